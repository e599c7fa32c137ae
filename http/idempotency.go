package http

import (
	"context"
	"crypto/sha256"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
)

// IdempotencyRecord is a stored response to a request made with an
// Idempotency-Key.
type IdempotencyRecord = postgres.IdempotencyRecord

// IdempotencyStore keeps responses by (scope, key). Implemented by
// *postgres.DB.
type IdempotencyStore interface {
	// BeginIdempotent claims (scope, key) for a request with the given hash.
	// It returns claimed=true when this request owns the key, else the
	// record of the request that does.
	BeginIdempotent(ctx context.Context, scope, key string, hash []byte) (claimed bool, existing IdempotencyRecord, err error)
	// CompleteIdempotent stores the response of the owning request.
	CompleteIdempotent(ctx context.Context, scope, key string, rec IdempotencyRecord) error
	// AbandonIdempotent releases a claim whose request failed transiently,
	// so the client may retry with the same key.
	AbandonIdempotent(ctx context.Context, scope, key string) error
}

var _ IdempotencyStore = (*postgres.DB)(nil)

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
	scope := idempotencyScope(ctx, rc)
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
	if err := store.CompleteIdempotent(store2ctx, scope, key, IdempotencyRecord{
		RequestHash: hash, Done: true, Status: status,
		ContentType: string(rc.Response.Header.ContentType()), Body: append([]byte(nil), rc.Response.Body()...),
	}); err != nil {
		// The answer stands: its work is done. The key stays claimed, so
		// a retry with it is 409 until the claim expires and is taken over.
		s.log.Error().Err(err).Str("request_id", requestID(rc)).Msg("storing idempotent response")
	}
	return nil
}

// idempotencyScope keeps keys of different tenants (and of anonymous
// storefront callers per route) apart.
func idempotencyScope(ctx context.Context, rc *fasthttp.RequestCtx) string {
	if t, ok := vayva.TenantFromContext(ctx); ok {
		return "merchant:" + t.MerchantID
	}
	return "public:" + string(rc.Path())
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
