package http

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every route prints times alike: RFC 3339, UTC, milliseconds, whether the
// time came from PostgreSQL (microseconds, any zone) or an actor (Unix
// milliseconds).
func TestTimeJSON(t *testing.T) {
	lagos := time.FixedZone("WAT", 3600)
	for _, c := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), "2025-03-01T12:00:00.000Z"},
		{time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC), "2025-03-01T12:00:00.123Z"},
		{time.Date(2025, 3, 1, 12, 0, 0, 999999999, lagos), "2025-03-01T11:00:00.999Z"},
		{time.Date(2025, 1, 1, 0, 30, 0, 5_000_000, lagos), "2024-12-31T23:30:00.005Z"},
	} {
		require.Equal(t, c.want, timeJSON(c.in))
		parsed, err := time.Parse(time.RFC3339, c.want)
		require.NoError(t, err)
		require.True(t, parsed.Equal(c.in.Truncate(time.Millisecond)), c.want)
	}
	ms := time.Date(2025, 3, 1, 12, 0, 0, 42_000_000, time.UTC).UnixMilli()
	require.Equal(t, "2025-03-01T12:00:00.042Z", rfc3339(ms))
}
