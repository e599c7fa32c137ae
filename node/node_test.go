package node_test

import (
	"context"
	"encoding/json"
	"io"
	nethttp "net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

func get(t *testing.T, url string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := nethttp.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := nethttp.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

func TestNodeServesHealthReadinessMetricsAndOps(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})

	status, body := get(t, n.BaseURL+"/healthz")
	require.Equal(t, 200, status)
	require.JSONEq(t, `{"status":"ok"}`, string(body))

	status, body = get(t, n.BaseURL+"/readyz")
	require.Equal(t, 200, status, string(body))
	for _, check := range []string{"postgres", "redis", "migrations", "cluster"} {
		require.Contains(t, string(body), `"name":"`+check+`","ok":true`)
	}

	status, body = get(t, n.BaseURL+"/metrics")
	require.Equal(t, 200, status)
	for _, m := range []string{"vayva_http_request_duration_seconds", "vayva_actor_activations_live", "go_goroutines"} {
		require.Contains(t, string(body), m)
	}

	status, _ = get(t, n.BaseURL+"/ops/cluster")
	require.Equal(t, 401, status)
	status, body = get(t, n.BaseURL+"/ops/cluster", "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, 200, status, string(body))
	var ops struct {
		Members []struct {
			ID     string           `json:"id"`
			Status string           `json:"status"`
			Self   bool             `json:"self"`
			Kinds  []string         `json:"kinds"`
			Actors map[string]int64 `json:"actors"`
		} `json:"members"`
	}
	require.NoError(t, json.Unmarshal(body, &ops))
	require.Len(t, ops.Members, 1)
	require.Equal(t, n.Member.ID(), ops.Members[0].ID)
	require.Equal(t, "alive", ops.Members[0].Status)
	require.True(t, ops.Members[0].Self)
	require.NotContains(t, ops.Members[0].Kinds, "prototopic", "internal kinds are not listed")

	status, _ = get(t, n.BaseURL+"/ops/ledger/check")
	require.Equal(t, 401, status)
	status, body = get(t, n.BaseURL+"/ops/ledger/check", "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, 200, status, string(body))
	require.JSONEq(t, `{"ok":true,"checked_transactions":0,"problems":[]}`, string(body))

	status, body = get(t, n.BaseURL+"/ops")
	require.Equal(t, 200, status)
	require.Contains(t, string(body), "<title>Vayva ops</title>")
}

func TestReadinessFailsWhileMigrationsArePending(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmpty(t)
	n := nodetest.Start(t, nodetest.Options{DatabaseURL: url})
	status, body := get(t, n.BaseURL+"/readyz")
	require.Equal(t, 503, status)
	require.Contains(t, string(body), `"name":"migrations","ok":false`)
}

func TestDrainThroughOps(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	req, err := nethttp.NewRequest("POST", n.BaseURL+"/ops/cluster/members/"+n.Member.ID()+"/drain", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+n.OpsToken)
	resp, err := nethttp.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 202, resp.StatusCode)
	select {
	case <-n.Member.DrainRequested():
	case <-time.After(5 * time.Second):
		t.Fatal("drain was not signalled")
	}
}

// Every route the node serves is in the OpenAPI document, and every
// operation of the document is served.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(vhttp.OpenAPI(), &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var served []string
	for _, r := range n.HTTP.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	require.Equal(t, documented, served, "router and openapi.yaml disagree")

	status, body := get(t, n.BaseURL+"/openapi.yaml")
	require.Equal(t, 200, status)
	require.Equal(t, string(vhttp.OpenAPI()), string(body))
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	for setting, value := range map[string]string{
		"VAYVA_HTTP_ADDR":                            "nonsense",
		"VAYVA_DATABASE_URL":                         "mysql://x",
		"VAYVA_REDIS_URL":                            "http://x",
		"VAYVA_CLUSTER_PROVIDER":                     "etcd",
		"VAYVA_CLUSTER_ADDR":                         "noport",
		"VAYVA_RETRY_SCALE":                          "-1",
		"VAYVA_PROVIDERS":                            "fake",
		"VAYVA_ROLES":                                "edge,brain",
		"VAYVA_PUBLIC_URL":                           "ftp://x",
		"VAYVA_LOG_LEVEL":                            "loud",
		"VAYVA_WEBHOOK_SECRET_KEY":                   "c2hvcnQ=",
		"VAYVA_DATABASE_LOCK_TIMEOUT":                "-1s",
		"VAYVA_DATABASE_STATEMENT_TIMEOUT":           "ten",
		"VAYVA_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT": "10",
	} {
		_, err := node.LoadConfig(func(k string) string {
			if k == setting {
				return value
			}
			return ""
		})
		require.ErrorContains(t, err, setting, "bad %s=%s", setting, value)
	}
	cfg, err := node.LoadConfig(func(string) string { return "" })
	require.NoError(t, err, "the defaults are valid")
	require.Equal(t, ":8080", cfg.HTTPAddr)
	require.Equal(t, "local", cfg.ClusterProvider)
	require.Equal(t, "sandbox", cfg.Providers)
	require.Len(t, cfg.Roles, 5)
	require.Equal(t, 2*time.Second, cfg.DatabaseLockTimeout)
	require.Equal(t, 10*time.Second, cfg.DatabaseStatementTimeout)
	require.Equal(t, 10*time.Second, cfg.DatabaseIdleInTransactionTimeout)
	cfg, err = node.LoadConfig(func(k string) string {
		if k == "VAYVA_DATABASE_STATEMENT_TIMEOUT" {
			return "0"
		}
		return ""
	})
	require.NoError(t, err)
	require.Zero(t, cfg.DatabaseStatementTimeout, "0 disables a timeout")

	_, err = node.LoadConfig(func(k string) string {
		if k == "VAYVA_PROVIDERS" {
			return "live"
		}
		return ""
	})
	require.ErrorContains(t, err, "required when VAYVA_PROVIDERS=live")
}

func TestStopIsIdempotent(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, n.Stop(ctx))
	require.NoError(t, n.Stop(ctx))
	_, err := nethttp.Get(n.BaseURL + "/healthz")
	require.Error(t, err, "the edge no longer accepts connections")
}
