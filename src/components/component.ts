export interface ComponentSpec { name: string; type: string; version: string; metadata: Record<string, string>; scopes: string[] }
