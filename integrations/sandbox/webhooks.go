package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxWebhookAttempts bounds the deliveries of one webhook; between them
// the sandbox waits 1s, 2s, 4s, 8s (times Config.RetryScale).
const maxWebhookAttempts = 5

// webhookDelivery is one webhook the sandbox sent or will send.
type webhookDelivery struct {
	ID         string    `json:"id"`
	Provider   string    `json:"provider"`
	Event      string    `json:"event"`
	URL        string    `json:"url"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"last_status"`
	LastError  string    `json:"last_error,omitempty"`
	Delivered  bool      `json:"delivered"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`

	body   []byte
	header http.Header
}

// webhookLog sends webhooks, records every attempt and owns the goroutines
// of deferred deliveries.
type webhookLog struct {
	cfg Config

	mu      sync.Mutex // guards everything below
	items   *store[*webhookDelivery]
	ctx     context.Context
	cancel  context.CancelFunc
	started bool
	stopped bool
	queued  []func(context.Context)
	wg      sync.WaitGroup
}

func newWebhookLog(cfg Config) *webhookLog {
	return &webhookLog{cfg: cfg, items: newStore[*webhookDelivery](cfg.MaxRecords)}
}

// start launches the deliveries queued so far and those spawned later, on
// goroutines that end with ctx or stop.
func (l *webhookLog) start(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = true
	l.ctx, l.cancel = context.WithCancel(ctx)
	for _, fn := range l.queued {
		l.launch(fn)
	}
	l.queued = nil
}

func (l *webhookLog) stop(ctx context.Context) error {
	l.mu.Lock()
	l.stopped = true
	l.queued = nil
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sandbox: stop: %w", ctx.Err())
	}
}

// spawn runs fn on a goroutine the sandbox owns, once started; fn must
// return when its context is canceled.
func (l *webhookLog) spawn(fn func(context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.stopped:
	case !l.started:
		if len(l.queued) < l.cfg.MaxRecords {
			l.queued = append(l.queued, fn)
		}
	default:
		l.launch(fn)
	}
}

// launch starts fn; l.mu is held.
func (l *webhookLog) launch(fn func(context.Context)) {
	ctx := l.ctx
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		fn(ctx)
	}()
}

// record registers a webhook to send.
func (l *webhookLog) record(provider, event, url string, body []byte, header http.Header) *webhookDelivery {
	now := l.cfg.Now().UTC()
	d := &webhookDelivery{
		ID: "whd_" + randomHex(10), Provider: provider, Event: event, URL: url,
		CreatedAt: now, UpdatedAt: now, body: body, header: header,
	}
	l.mu.Lock()
	l.items.put(d.ID, d)
	l.mu.Unlock()
	return d
}

// attempt sends d once and records the outcome.
func (l *webhookLog) attempt(ctx context.Context, d *webhookDelivery) (int, error) {
	status, err := l.post(ctx, d)
	l.mu.Lock()
	d.Attempts++
	d.LastStatus = status
	d.LastError = ""
	if err != nil {
		d.LastError = err.Error()
	}
	d.Delivered = err == nil
	d.UpdatedAt = l.cfg.Now().UTC()
	l.mu.Unlock()
	return status, err
}

func (l *webhookLog) post(ctx context.Context, d *webhookDelivery) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	for k, v := range d.header {
		req.Header[k] = v
	}
	resp, err := l.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// deliver sends d until it is accepted or maxWebhookAttempts are spent,
// counting attempts already made.
func (l *webhookLog) deliver(ctx context.Context, d *webhookDelivery) {
	for {
		l.mu.Lock()
		n := d.Attempts
		l.mu.Unlock()
		if n >= maxWebhookAttempts {
			return
		}
		if n > 0 && !l.wait(ctx, n) {
			return
		}
		if _, err := l.attempt(ctx, d); err == nil || ctx.Err() != nil {
			return
		}
	}
}

// sendNow makes the first attempt synchronously and leaves retries to an
// owned goroutine, as providers do.
func (l *webhookLog) sendNow(ctx context.Context, d *webhookDelivery) (int, error) {
	status, err := l.attempt(ctx, d)
	if err != nil {
		l.spawn(func(ctx context.Context) { l.deliver(ctx, d) })
	}
	return status, err
}

// wait sleeps before attempt n+1; it reports false when ctx ends first.
func (l *webhookLog) wait(ctx context.Context, n int) bool {
	d := time.Duration(float64(time.Second<<(n-1)) * l.cfg.RetryScale)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// list returns copies of the newest deliveries.
func (l *webhookLog) list(limit int, provider string) []webhookDelivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []webhookDelivery
	for _, d := range l.items.newest(limit, func(d *webhookDelivery) bool { return provider == "" || d.Provider == provider }) {
		out = append(out, *d)
	}
	return out
}

func (l *webhookLog) handleList(w http.ResponseWriter, r *http.Request) {
	data := l.list(limitParam(r, 100), r.URL.Query().Get("provider"))
	if data == nil {
		data = []webhookDelivery{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": nil})
}
