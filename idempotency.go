package vayva

// IdempotencyRecord is a stored response to a request made with an
// Idempotency-Key: the edge claims the key before the handler runs and
// stores the answer after it, so a retry with the same key and body gets
// the same answer.
type IdempotencyRecord struct {
	// RequestHash identifies the request (method, path and body) that
	// claimed the key; a request with another hash is refused.
	RequestHash []byte
	// Done is false while the first request with the key is in flight.
	Done        bool
	Status      int
	ContentType string
	Body        []byte
}
