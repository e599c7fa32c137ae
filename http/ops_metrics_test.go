package http_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

type opsSecond struct {
	Requests     int64   `json:"requests"`
	ClientErrors int64   `json:"client_errors"`
	ServerErrors int64   `json:"server_errors"`
	LatencyMax   float64 `json:"latency_max_ms"`
}

type opsMetrics struct {
	MemberID string      `json:"member_id"`
	Seconds  []opsSecond `json:"seconds"`
}

// GET /ops/metrics counts the requests this member answered, 4xx apart,
// and leaves operator traffic out; GET /ops/cluster/metrics carries the
// same figures for this member.
func TestOpsMetricsCountTraffic(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	hookDo(t, "GET", n.BaseURL+"/ops/metrics", nil).problem(t, 401, "unauthorized")
	hookDo(t, "GET", n.BaseURL+"/ops/metrics?seconds=0", nil, "Authorization", "Bearer "+n.OpsToken).problem(t, 422, "validation_failed")
	hookDo(t, "GET", n.BaseURL+"/ops/metrics?seconds=x", nil, "Authorization", "Bearer "+n.OpsToken).problem(t, 422, "validation_failed")
	for range 3 {
		require.Equal(t, 200, hookDo(t, "GET", n.BaseURL+"/healthz", nil).status)
	}
	for range 2 {
		hookDo(t, "GET", n.BaseURL+"/nope", nil).problem(t, 404, "not_found")
	}
	hookDo(t, "GET", n.BaseURL+"/metrics", nil)
	hookDo(t, "GET", n.BaseURL+"/ops/queues", nil, "Authorization", "Bearer "+n.OpsToken)

	sum := func(m opsMetrics) (req, client, server int64) {
		for _, s := range m.Seconds {
			req, client, server = req+s.Requests, client+s.ClientErrors, server+s.ServerErrors
		}
		return
	}
	for range 2 { // asking again does not count the asking
		r := hookDo(t, "GET", n.BaseURL+"/ops/metrics?seconds=120", nil, "Authorization", "Bearer "+n.OpsToken)
		require.Equal(t, 200, r.status, "body %s", r.body)
		var m opsMetrics
		require.NoError(t, json.Unmarshal(r.body, &m))
		require.Equal(t, n.Member.ID(), m.MemberID)
		require.Len(t, m.Seconds, 120)
		req, client, server := sum(m)
		require.Equal(t, [3]int64{5, 2, 0}, [3]int64{req, client, server}, "3 health checks and 2 unknown routes; no ops, no scrape")
	}

	r := hookDo(t, "GET", n.BaseURL+"/ops/cluster/metrics", nil, "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, 200, r.status, "body %s", r.body)
	var c struct {
		Members []struct {
			ID      string      `json:"id"`
			Self    bool        `json:"self"`
			Status  string      `json:"status"`
			Metrics *opsMetrics `json:"metrics"`
		} `json:"members"`
	}
	require.NoError(t, json.Unmarshal(r.body, &c))
	require.Len(t, c.Members, 1)
	require.True(t, c.Members[0].Self)
	require.Equal(t, "alive", c.Members[0].Status)
	require.Len(t, c.Members[0].Metrics.Seconds, 60)
	req, client, _ := sum(*c.Members[0].Metrics)
	require.Equal(t, [2]int64{5, 2}, [2]int64{req, client})
}
