/** A component as the plan carries it: Dapr's Component resource, normalized (metadata values resolved to strings). */
export interface ComponentSpec {
  name: string;
  type: string;
  version: string;
  metadata: Record<string, string>;
  scopes: string[];
}
