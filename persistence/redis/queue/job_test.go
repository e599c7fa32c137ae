package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

func TestJobFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	j := Job{ID: "job_1", Queue: vayva.QueueEmail, Key: "k:1", Type: "email.send", Attempt: 3, MaxAttempts: 8,
		EnqueuedAt: time.UnixMilli(1_700_000_000_123), Payload: []byte("{\"a\":\"b\x00\xff\"}"), LastError: "boom"}
	m, err := decodeMember(encodeMember(j.values()))
	require.NoError(t, err)
	got, err := decodeJob(vayva.QueueEmail, m)
	require.NoError(t, err)
	require.Equal(t, j, got)

	j.Key, j.LastError, j.Payload = "", "", []byte{}
	m, err = decodeMember(encodeMember(j.values()))
	require.NoError(t, err)
	got, err = decodeJob(vayva.QueueEmail, m)
	require.NoError(t, err)
	require.Equal(t, j, got)
}

func TestDecodeJobRejects(t *testing.T) {
	t.Parallel()
	good := map[string]any{"id": "j", "type": "t", "attempt": "1", "max": "3", "at": "5", "data": "x"}
	for name, mutate := range map[string]func(map[string]any){
		"no id":        func(m map[string]any) { delete(m, "id") },
		"empty id":     func(m map[string]any) { m["id"] = "" },
		"no type":      func(m map[string]any) { delete(m, "type") },
		"zero attempt": func(m map[string]any) { m["attempt"] = "0" },
		"bad max":      func(m map[string]any) { m["max"] = "x" },
		"huge attempt": func(m map[string]any) { m["attempt"] = "99999999" },
		"no data":      func(m map[string]any) { delete(m, "data") },
		"non-string":   func(m map[string]any) { m["id"] = 5 },
		"negative at":  func(m map[string]any) { m["at"] = "-1" },
	} {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		mutate(m)
		_, err := decodeJob(vayva.QueueEmail, m)
		require.Error(t, err, name)
	}
	_, err := decodeJob(vayva.QueueEmail, good)
	require.NoError(t, err)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	s := QueueSpec{Name: "x", MaxAttempts: 10, BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for attempt := 1; attempt <= 12; attempt++ {
		limit := min(time.Second, 100*time.Millisecond<<(attempt-1))
		for range 200 {
			d := s.backoff(attempt, 1)
			require.GreaterOrEqual(t, d, 100*time.Millisecond)
			require.LessOrEqual(t, d, limit)
		}
	}
	require.Equal(t, 100*time.Microsecond, s.backoff(1, 0.001))
	require.LessOrEqual(t, s.backoff(60, 1), time.Second)
}

func TestStreamID(t *testing.T) {
	t.Parallel()
	a, err := parseStreamID("5-3")
	require.NoError(t, err)
	b, err := parseStreamID("5-4")
	require.NoError(t, err)
	require.True(t, a.less(b))
	require.Equal(t, b, a.next())
	require.Equal(t, "5-4", b.String())
	_, err = parseStreamID("x-1")
	require.Error(t, err)
}

func TestPartitionStable(t *testing.T) {
	t.Parallel()
	s := QueueSpec{Partitions: 16}
	require.Equal(t, s.Partition("conv-1"), s.Partition("conv-1"))
	seen := map[int]bool{}
	for _, k := range keysN("k", 64) {
		p := s.Partition(k)
		require.True(t, p >= 0 && p < 16)
		seen[p] = true
	}
	require.Greater(t, len(seen), 8)
	require.Equal(t, 0, QueueSpec{}.Partition("anything"))
}

// FuzzDecodeJob feeds arbitrary bytes through the parsers of stored
// entries: the delayed-set member format and the field decoder. Whatever
// decodes must re-encode to the same job.
func FuzzDecodeJob(f *testing.F) {
	j := Job{ID: "job_1", Type: "t", Key: "k", Attempt: 2, MaxAttempts: 5, EnqueuedAt: time.UnixMilli(1), Payload: []byte("p"), LastError: "e"}
	f.Add([]byte(encodeMember(j.values())))
	f.Add([]byte("2:id1:x4:type0:7:attempt1:13:max1:12:at1:04:data0:"))
	f.Add([]byte("99999999999:x"))
	f.Add([]byte(""))
	f.Add([]byte("0:0:"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMember(string(data))
		if err != nil {
			return
		}
		job, err := decodeJob(vayva.QueueEmail, m)
		if err != nil {
			return
		}
		m2, err := decodeMember(encodeMember(job.values()))
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		job2, err := decodeJob(vayva.QueueEmail, m2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if job.ID != job2.ID || job.Type != job2.Type || job.Key != job2.Key || job.Attempt != job2.Attempt ||
			job.MaxAttempts != job2.MaxAttempts || !job.EnqueuedAt.Equal(job2.EnqueuedAt) ||
			string(job.Payload) != string(job2.Payload) || job.LastError != job2.LastError {
			t.Fatalf("round trip changed the job: %+v vs %+v", job, job2)
		}
	})
}
