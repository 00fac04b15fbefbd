// Character classes of HTTP/1.1 syntax shared by the proxy's parsers (lean-server, upstream-client).

/** 1 for the token characters of a header name or method (RFC 9110 §5.6.2), by char code (< 128). */
export const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
