package ai_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/ai"
	"github.com/vayvahq/vayva/integrations/ai/aitest"
)

func TestCompleteSpeaksTheWireFormat(t *testing.T) {
	fake := aitest.NewServer("sk-test", func(r aitest.Request) aitest.Answer {
		return aitest.Answer{Content: `{"echo":"` + r.LastUser() + `","json":` + map[bool]string{true: "true", false: "false"}[r.ResponseFormat != nil] + `}`}
	})
	defer fake.Close()
	c, err := ai.New(ai.Config{BaseURL: fake.BaseURL(), APIKey: "sk-test", Model: "tiny"})
	require.NoError(t, err)
	out, err := c.Complete(context.Background(), ai.Request{JSON: true, Messages: []ai.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}})
	require.NoError(t, err)
	require.Equal(t, `{"echo":"hi","json":true}`, out)
	reqs := fake.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "tiny", reqs[0].Model)
	require.Contains(t, reqs[0].System(), "be brief")
}

func TestCompleteRetriesServerErrorsButNotRefusals(t *testing.T) {
	var calls atomic.Int32
	fake := aitest.NewServer("k", func(aitest.Request) aitest.Answer {
		if calls.Add(1) == 1 {
			return aitest.Answer{Status: http.StatusServiceUnavailable}
		}
		return aitest.Answer{Content: "ok"}
	})
	defer fake.Close()
	c, err := ai.New(ai.Config{BaseURL: fake.BaseURL(), APIKey: "k", Model: "m", RetryScale: 0.001})
	require.NoError(t, err)
	out, err := c.Complete(context.Background(), ai.Request{Messages: []ai.Message{{Role: "user", Content: "x"}}})
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.EqualValues(t, 2, calls.Load())

	bad, err := ai.New(ai.Config{BaseURL: fake.BaseURL(), APIKey: "wrong-secret-key", Model: "m", RetryScale: 0.001, Timeout: time.Second})
	require.NoError(t, err)
	_, err = bad.Complete(context.Background(), ai.Request{Messages: []ai.Message{{Role: "user", Content: "x"}}})
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.False(t, strings.Contains(err.Error(), "wrong-secret-key"), "the key never appears in errors")
}

func TestNewRequiresAModel(t *testing.T) {
	_, err := ai.New(ai.Config{})
	require.Error(t, err)
}
