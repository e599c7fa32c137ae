// Package aitest serves a fake OpenAI-compatible chat-completions API on
// loopback for tests: it checks the bearer key and the request's shape and
// answers with whatever the test's function returns, in the wire format.
package aitest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Request is a chat-completions request as the fake received it.
type Request struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
}

// System returns the content of the request's system messages, joined.
func (r Request) System() string {
	out := ""
	for _, m := range r.Messages {
		if m.Role == "system" {
			out += m.Content + "\n"
		}
	}
	return out
}

// LastUser returns the content of the last user message.
func (r Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	// Key is the API key the fake accepts.
	Key string

	mu       sync.Mutex
	requests []Request
}

// Answer is what the fake replies: Content as the first choice, or, when
// Status is not 0 or 200, an error answer with that status.
type Answer struct {
	Content string
	Status  int
}

// NewServer starts a fake that answers each request with answer(req). The
// caller closes it.
func NewServer(key string, answer func(Request) Answer) *Server {
	s := &Server{Key: key}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"message":"not found","type":"invalid_request_error"}}`))
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`))
			return
		}
		var req Request
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"invalid request","type":"invalid_request_error"}}`))
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		a := answer(req)
		if a.Status != 0 && a.Status != http.StatusOK {
			w.WriteHeader(a.Status)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "fake failure", "type": "server_error"}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": a.Content}}},
			"usage": map[string]any{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
		})
	}))
	return s
}

// BaseURL is the root to configure clients with (VAYVA_AI_BASE_URL).
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}
