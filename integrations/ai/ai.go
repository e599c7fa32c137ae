// Package ai is a client of OpenAI-compatible chat-completions APIs
// (POST {base}/chat/completions with a bearer key), the wire format that
// OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio and most model gateways
// speak. The runtime uses it for the WhatsApp agent: to classify a
// customer message and to draft an answer from the store's catalog.
//
// A completion has no side effect, so every transient failure (no answer,
// 429, 5xx) is retried with backoff scaled by Config.RetryScale.
package ai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// DefaultBaseURL is OpenAI's API root.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, up to but excluding /chat/completions.
	// Defaults to DefaultBaseURL. Env: VAYVA_AI_BASE_URL.
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none (local servers).
	// Env: VAYVA_AI_API_KEY.
	APIKey string
	// Model is the model name. Required. Env: VAYVA_AI_MODEL.
	Model string
	// Timeout bounds each attempt. Defaults to 20s.
	Timeout time.Duration
	// MaxRetries is how many times a transient failure is retried.
	// Defaults to 2; negative disables retries.
	MaxRetries int
	// RetryScale multiplies every backoff delay. Defaults to 1.
	RetryScale float64
}

// Client calls a chat-completions API. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *providerhttp.Client
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Model == "" {
		return nil, errors.New("ai: Config.Model is required")
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 2
	}
	api, err := providerhttp.New(providerhttp.Settings{
		BaseURL: cfg.BaseURL, DefaultBaseURL: DefaultBaseURL,
		Timeout: cfg.Timeout, DefaultTimeout: 20 * time.Second,
		MaxRetries: cfg.MaxRetries, RetryScale: cfg.RetryScale, MaxRetryAfter: 10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("ai: %w", err)
	}
	return &Client{cfg: cfg, api: api}, nil
}

// Model returns the configured model name.
func (c *Client) Model() string { return c.cfg.Model }

// Message is one turn of a chat: role system, user or assistant.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one completion request.
type Request struct {
	Messages []Message
	// JSON asks for a JSON object answer (response_format json_object).
	JSON bool
	// MaxTokens bounds the answer; 0 leaves it to the server.
	MaxTokens int
	// Temperature is the sampling temperature; nil leaves it to the server.
	Temperature *float64
}

type requestWire struct {
	Model          string    `json:"model"`
	Messages       []Message `json:"messages"`
	MaxTokens      int       `json:"max_tokens,omitempty"`
	Temperature    *float64  `json:"temperature,omitempty"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format,omitempty"`
}

type responseWire struct {
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Error *errorWire `json:"error"`
}

type errorWire struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

// Complete sends the request and returns the first choice's content.
func (c *Client) Complete(ctx context.Context, r Request) (string, error) {
	if len(r.Messages) == 0 {
		return "", fmt.Errorf("ai: complete: %w", vayva.Errorf(vayva.EINVALID, "at least one message is required"))
	}
	w := requestWire{Model: c.cfg.Model, Messages: r.Messages, MaxTokens: r.MaxTokens, Temperature: r.Temperature}
	if r.JSON {
		w.ResponseFormat = &struct {
			Type string `json:"type"`
		}{Type: "json_object"}
	}
	body, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("ai: complete: %w", err)
	}
	req := providerhttp.Request{Method: http.MethodPost, Path: "/chat/completions", Body: body, Header: http.Header{}}
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	var raw []byte
	err = c.api.Retry(ctx, retryable, func(ctx context.Context) (time.Duration, error) {
		resp, f := c.api.Send(ctx, req)
		if f != nil {
			return 0, &Error{StatusCode: f.StatusCode, Message: f.Message, Err: f.Err}
		}
		if !resp.OK() {
			var ew responseWire
			_ = json.Unmarshal(resp.Body, &ew)
			e := &Error{StatusCode: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
			if ew.Error != nil {
				e.Message, e.Type = ew.Error.Message, ew.Error.Type
			}
			return providerhttp.RetryAfter(resp.Header), e
		}
		raw = resp.Body
		return 0, nil
	})
	if err != nil {
		return "", fmt.Errorf("ai: complete: %w", err)
	}
	var out responseWire
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("ai: complete: %w", &Error{StatusCode: http.StatusOK, Message: "undecodable response", Err: err})
	}
	if len(out.Choices) == 0 {
		return "", fmt.Errorf("ai: complete: %w", &Error{StatusCode: http.StatusOK, Message: "answer without choices"})
	}
	return out.Choices[0].Message.Content, nil
}

// Error is a failed completion: an error answer (StatusCode set) or no
// usable answer (StatusCode 0, Err set). It never holds the API key.
type Error struct {
	StatusCode int
	Type       string
	Message    string
	Err        error
}

// Error implements the error interface.
func (e *Error) Error() string { return providerhttp.ErrorText(e.StatusCode, e.Message, e.Err) }

// Unwrap exposes the runtime's coded error and the cause.
func (e *Error) Unwrap() []error {
	code := vayva.EINVALID
	switch {
	case e.StatusCode == http.StatusTooManyRequests:
		code = vayva.ERATELIMITED
	case e.StatusCode == 0 || e.StatusCode >= 500 || e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		code = vayva.EUNAVAILABLE
	}
	return providerhttp.Unwrapped(code, "AI: "+e.Message, e.Err)
}

func retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.StatusCode == http.StatusTooManyRequests || providerhttp.MayRetry(e.StatusCode, e.Err, true)
}
