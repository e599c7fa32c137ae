package http

import (
	"context"
	"crypto/sha256"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// IdempotencyStore keeps responses by (scope, key), scope being the
// caller's (idempotencyScope). Implemented by *postgres.DB.
type IdempotencyStore interface {
	// BeginIdempotent claims (scope, key) for a request with the given hash.
	// It returns claimed=true when this request owns the key, else the
	// record of the request that does.
	BeginIdempotent(ctx context.Context, scope, key string, hash []byte) (claimed bool, existing vayva.IdempotencyRecord, err error)
	// CompleteIdempotent stores the response of the owning request.
	CompleteIdempotent(ctx context.Context, scope, key string, rec vayva.IdempotencyRecord) error
	// AbandonIdempotent releases a claim whose request failed transiently,
	// so the client may retry with the same key.
	AbandonIdempotent(ctx context.Context, scope, key string) error
}

const maxIdempotencyKeyLen = 255

// withIdempotency runs h under the request's Idempotency-Key, if any: the
// same key with the same body replays the first response; the same key with
// another body is refused.
func (s *Server) withIdempotency(ctx context.Context, rc *fasthttp.RequestCtx, required bool, h Handler) error {
	key := string(rc.Request.Header.Peek("Idempotency-Key"))
	if key == "" {
		if required {
			return &vayva.Error{Code: vayva.EBADREQUEST, Message: "This route requires an Idempotency-Key header.",
				Fields: []vayva.FieldError{{Field: "Idempotency-Key", Message: "is required"}}}
		}
		return h(ctx, rc)
	}
	if len(key) > maxIdempotencyKeyLen || !printableASCII(key) {
		return &vayva.Error{Code: vayva.EBADREQUEST, Message: "The Idempotency-Key header is invalid.",
			Fields: []vayva.FieldError{{Field: "Idempotency-Key", Message: "must be 1 to 255 printable ASCII characters"}}}
	}
	store := s.deps.Idempotency
	if store == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "Idempotency keys are not available on this node.")
	}
	scope := idempotencyScope(rc)
	sum := sha256.New()
	sum.Write(rc.Method())
	sum.Write([]byte{0})
	sum.Write(rc.Path())
	sum.Write([]byte{0})
	sum.Write(rc.PostBody())
	hash := sum.Sum(nil)

	claimed, rec, err := store.BeginIdempotent(ctx, scope, key, hash)
	if err != nil {
		return err
	}
	if !claimed {
		if string(rec.RequestHash) != string(hash) {
			return vayva.Errorf(vayva.EIDEMPOTENCYREUSED, "This Idempotency-Key was used with a different request.")
		}
		if !rec.Done {
			return vayva.Errorf(vayva.ECONFLICT, "A request with this Idempotency-Key is still in progress.")
		}
		rc.Response.SetStatusCode(rec.Status)
		rc.Response.Header.SetContentType(rec.ContentType)
		rc.Response.Header.Set("Idempotency-Replayed", "true")
		rc.Response.SetBody(rec.Body)
		return nil
	}
	// Releasing or storing the key must happen even when the handler used
	// up the request's time, but must not wait forever on a stuck database
	// either: it gets a deadline of its own.
	storeCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
	}
	// A panicking handler must not leave the key claimed.
	defer func() {
		if v := recover(); v != nil {
			sctx, cancel := storeCtx()
			_ = store.AbandonIdempotent(sctx, scope, key)
			cancel()
			panic(v)
		}
	}()
	herr := h(ctx, rc)
	if herr != nil {
		writeProblem(rc, coded(herr))
	}
	status := rc.Response.StatusCode()
	// Server-side failures are not remembered: the client may retry them.
	store2ctx, cancel := storeCtx()
	defer cancel()
	if status >= 500 {
		if err := store.AbandonIdempotent(store2ctx, scope, key); err != nil {
			s.log.Warn().Err(err).Msg("releasing idempotency key")
		}
		return nil
	}
	if err := store.CompleteIdempotent(store2ctx, scope, key, vayva.IdempotencyRecord{
		RequestHash: hash, Done: true, Status: status,
		ContentType: string(rc.Response.Header.ContentType()), Body: append([]byte(nil), rc.Response.Body()...),
	}); err != nil {
		// The answer stands: its work is done. The key stays claimed, so
		// a retry with it is 409 until the claim expires and is taken over.
		s.log.Error().Err(err).Str("request_id", requestID(rc)).Msg("storing idempotent response")
	}
	return nil
}

// idempotencyScope is whose an Idempotency-Key is. A signed-in caller's
// keys belong to its principal: the credential's user in its store of its
// merchant, so two users of one store, and two tenants, never share a key
// whatever they send. Anonymous callers (storefront checkout, email
// verification) cannot be told apart; their keys belong to the route and,
// on storefront routes, the store's slug, and the request hash (method,
// path and body) makes a key replay only for a byte-identical request.
func idempotencyScope(rc *fasthttp.RequestCtx) string {
	if t, ok := rc.UserValue(tenantKey).(vayva.Tenant); ok {
		return "tenant:" + t.MerchantID + ":" + t.StoreID + ":" + t.UserID
	}
	route, _ := rc.UserValue(router.MatchedRoutePathParam).(string)
	if route == "" {
		route = string(rc.Path())
	}
	scope := "public:" + route
	if slug, ok := rc.UserValue("slug").(string); ok {
		scope += ":" + slug
	}
	return scope
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
