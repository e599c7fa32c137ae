// Package http is the node's HTTP edge on fasthttp and fasthttp/router:
// routes, authentication and tenant resolution, JSON mapping, RFC 9457
// problem+json errors, idempotency keys, webhook receivers, metrics and the
// OpenAPI document.
//
// Conventions for route handlers:
//   - A feature area is a type implementing Area; its Register method adds its
//     routes through Routes.Handle, naming the route's access (Public,
//     Merchant or Ops). NewServer takes the areas, so a feature never edits
//     the server itself.
//   - A Handler gets a context carrying the request id and, on Merchant
//     routes, the vayva.Tenant derived from the bearer token; it returns an
//     error instead of writing one. Errors are mapped to problem+json by one
//     status table (statusOf); a *vayva.Error's code is the problem's code.
//   - A body must be labelled application/json (415 otherwise; the pages'
//     forms excepted). decodeJSON refuses malformed JSON with 400 and
//     unknown, differently cased, repeated or mistyped fields with 422
//     naming the field; writeJSON writes a JSON body.
//   - Every route must be described in openapi.yaml, with its access as the
//     operation's security, its statuses and their bodies as component
//     schemas; tests fail when the router and the document disagree, and
//     http/openapitest validates every answer the HTTP tests receive.
package http
