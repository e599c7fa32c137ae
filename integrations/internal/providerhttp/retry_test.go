package providerhttp_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

var errTransient = errors.New("transient")

// fastClient retries with delays shrunk a millionfold.
func fastClient(t *testing.T, maxRetries int, maxRetryAfter time.Duration) *providerhttp.Client {
	t.Helper()
	c, err := providerhttp.New(providerhttp.Settings{
		DefaultBaseURL: "https://api.example.test", DefaultTimeout: time.Second,
		MaxRetries: maxRetries, RetryScale: 1e-6, MaxRetryAfter: maxRetryAfter,
	})
	require.NoError(t, err)
	return c
}

func always(error) bool { return true }

func TestRetryRepeatsUntilSuccess(t *testing.T) {
	t.Parallel()
	c := fastClient(t, 3, 0)
	attempts := 0
	err := c.Retry(context.Background(), always, func(context.Context) (time.Duration, error) {
		attempts++
		if attempts < 3 {
			return 0, errTransient
		}
		return 0, nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, attempts)
}

func TestRetryStopsAfterMaxRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ maxRetries, attempts int }{{3, 4}, {1, 2}, {-1, 1}} {
		c := fastClient(t, tc.maxRetries, 0)
		attempts := 0
		err := c.Retry(context.Background(), always, func(context.Context) (time.Duration, error) {
			attempts++
			return 0, errTransient
		})
		require.ErrorIs(t, err, errTransient)
		require.Equal(t, tc.attempts, attempts, "MaxRetries %d", tc.maxRetries)
	}
}

func TestRetryAsksTheHookAboutEachFailure(t *testing.T) {
	t.Parallel()
	c := fastClient(t, 5, 0)
	permanent := errors.New("permanent")
	var asked []error
	attempts := 0
	err := c.Retry(context.Background(), func(err error) bool {
		asked = append(asked, err)
		return errors.Is(err, errTransient)
	}, func(context.Context) (time.Duration, error) {
		attempts++
		if attempts == 1 {
			return 0, errTransient
		}
		return 0, permanent
	})
	require.ErrorIs(t, err, permanent)
	require.Equal(t, 2, attempts)
	require.Equal(t, []error{errTransient, permanent}, asked)
}

func TestRetryHandsBackATooLongRetryAfter(t *testing.T) {
	t.Parallel()
	c := fastClient(t, 3, 30*time.Second)
	attempts := 0
	err := c.Retry(context.Background(), always, func(context.Context) (time.Duration, error) {
		attempts++
		return 31 * time.Second, errTransient
	})
	require.ErrorIs(t, err, errTransient)
	require.Equal(t, 1, attempts)

	// Within the bound, the call is repeated.
	attempts = 0
	err = c.Retry(context.Background(), always, func(context.Context) (time.Duration, error) {
		attempts++
		return 30 * time.Second, errTransient
	})
	require.ErrorIs(t, err, errTransient)
	require.Equal(t, 4, attempts)
}

func TestRetryWaitsForRetryAfter(t *testing.T) {
	t.Parallel()
	// Backoff shrinks to nanoseconds, but the scaled Retry-After is still
	// a thousand seconds: the second attempt must not come before the
	// context ends.
	c := fastClient(t, 3, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failed := make(chan struct{})
	done := make(chan error, 1)
	attempts := 0
	go func() {
		done <- c.Retry(ctx, always, func(context.Context) (time.Duration, error) {
			attempts++
			if attempts == 1 {
				close(failed)
			}
			return 1e9 * time.Second, errTransient
		})
	}()
	<-failed
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, attempts)
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	c := fastClient(t, 3, 0)
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	err := c.Retry(ctx, always, func(context.Context) (time.Duration, error) {
		attempts++
		cancel()
		return 0, errTransient
	})
	require.ErrorIs(t, err, errTransient)
	require.Equal(t, 1, attempts)
}

func TestBackoffIsBoundedJitteredAndScaled(t *testing.T) {
	t.Parallel()
	c := fastClient(t, 3, 0)
	c.RetryScale = 1
	half := fastClient(t, 3, 0)
	half.RetryScale = 0.5
	for attempt := range 14 {
		ceiling := min(250*time.Millisecond<<min(attempt, 10), 8*time.Second)
		for range 50 {
			d := c.Backoff(attempt)
			require.GreaterOrEqual(t, d, ceiling/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, ceiling, "attempt %d", attempt)
			d = half.Backoff(attempt)
			require.GreaterOrEqual(t, d, ceiling/4, "attempt %d", attempt)
			require.LessOrEqual(t, d, ceiling/2, "attempt %d", attempt)
		}
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	require.NoError(t, providerhttp.Sleep(context.Background(), 0))
	require.NoError(t, providerhttp.Sleep(context.Background(), time.Microsecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, providerhttp.Sleep(ctx, 0), context.Canceled)
	require.ErrorIs(t, providerhttp.Sleep(ctx, time.Hour), context.Canceled)
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"":          0,
		"5":         5 * time.Second,
		" 12 ":      12 * time.Second,
		"0":         0,
		"-1":        0,
		"1.5":       0,
		"soon":      0,
		"999999999": 24 * time.Hour,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0,
	} {
		h := http.Header{}
		if in != "" {
			h.Set("Retry-After", in)
		}
		require.Equal(t, want, providerhttp.RetryAfter(h), "%q", in)
	}
	h := http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}
	d := providerhttp.RetryAfter(h)
	require.Greater(t, d, 58*time.Minute)
	require.LessOrEqual(t, d, time.Hour)
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "5", "-3", "86401", "9223372036854775807", "Wed, 21 Oct 2015 07:28:00 GMT", "1e3", " 7 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := providerhttp.RetryAfter(http.Header{"Retry-After": {v}})
		require.GreaterOrEqual(t, d, time.Duration(0))
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			require.LessOrEqual(t, d, 24*time.Hour)
		}
	})
}
