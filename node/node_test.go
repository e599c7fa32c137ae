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

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/actors/actortest"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/cluster"
	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/postgres"
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
		"VAYVA_SIGNUP_RATE_LIMIT":                    "lots",
		"VAYVA_CHECKOUT_TTL":                         "forever",
		"VAYVA_STOREFRONT_STALENESS":                 "2m",
		"VAYVA_STOREFRONT_MAX_AGE":                   "1500ms",
		"VAYVA_DELIVERY_POLL_INTERVAL":               "2h",
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
	require.Equal(t, "http://127.0.0.1:8080", cfg.PublicURL)
	require.Equal(t, auth.Rate{Max: 20, Window: time.Minute}, cfg.SignupLimit)
	require.Equal(t, time.Minute, cfg.DeliveryPollInterval)
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

func TestNodeRefusesToStartWhenAKindsChangeHasNoApplier(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t, &nodetest.Options{})
	n := node.New(cfg, zerolog.Nop())
	n.ExtraKinds = append(n.ExtraKinds, func(j *postgres.Journal) cluster.Kind {
		return cluster.Kind{
			Name:     actortest.Kind,
			Producer: actortest.NewProducer(j, func() string { return "" }, zerolog.Nop()),
			Changes:  []actors.Change{actortest.AddToCounter{}, actortest.Unapplied{}},
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := n.Start(ctx)
	require.ErrorContains(t, err, "kind probe")
	require.ErrorContains(t, err, "actortest.AddToCounter, actortest.Unapplied")
	require.Nil(t, n.Member, "the cluster was not joined")
	require.Nil(t, n.HTTP, "nothing serves")
	require.NoError(t, n.Stop(ctx), "stopping a node that failed to start is a no-op")
}

// VAYVA_PUBLIC_URL defaults from VAYVA_HTTP_ADDR, so changing the address
// alone keeps every link and client working.
func TestPublicURLDefaultsFromHTTPAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8081":            "http://127.0.0.1:8081",
		"0.0.0.0:9000":     "http://127.0.0.1:9000",
		"[::]:9001":        "http://127.0.0.1:9001",
		"10.1.2.3:8080":    "http://10.1.2.3:8080",
		"localhost:7000":   "http://localhost:7000",
		"[::1]:7001":       "http://[::1]:7001",
		"127.0.0.1:0":      "", // filled in from the listener at start
		"shop.internal:80": "http://shop.internal:80",
	} {
		cfg, err := node.LoadConfig(func(k string) string {
			if k == "VAYVA_HTTP_ADDR" {
				return addr
			}
			return ""
		})
		require.NoError(t, err, addr)
		require.Equal(t, want, cfg.PublicURL, addr)
	}
	cfg, err := node.LoadConfig(func(k string) string {
		return map[string]string{"VAYVA_HTTP_ADDR": ":8081", "VAYVA_PUBLIC_URL": "https://vayva.example/", "VAYVA_SIGNUP_RATE_LIMIT": "off"}[k]
	})
	require.NoError(t, err)
	require.Equal(t, "https://vayva.example", cfg.PublicURL, "an explicit public URL wins")
	require.Equal(t, -1, cfg.SignupLimit.Max)
	cfg, err = node.LoadConfig(func(k string) string { return map[string]string{"VAYVA_SIGNUP_RATE_LIMIT": "5/10m"}[k] })
	require.NoError(t, err)
	require.Equal(t, auth.Rate{Max: 5, Window: 10 * time.Minute}, cfg.SignupLimit)

	// `vayva help` documents both settings.
	var help []string
	for _, s := range node.Settings {
		help = append(help, s[0]+" "+s[1])
	}
	require.Contains(t, strings.Join(help, "\n"), "VAYVA_PUBLIC_URL base of links the node hands out")
	require.Contains(t, strings.Join(help, "\n"), "VAYVA_SIGNUP_RATE_LIMIT")
}

// A node asked for port 0 takes a free port, and its public URL, consumer
// names and cluster record use the real one.
func TestNodeOnPortZeroKnowsItsAddress(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	require.NotEqual(t, "127.0.0.1:0", n.Config().HTTPAddr)
	require.Equal(t, "http://"+n.Config().HTTPAddr, n.BaseURL)
	require.Equal(t, n.BaseURL, n.Config().PublicURL)
	status, body := get(t, n.BaseURL+"/sandbox/")
	require.Equal(t, 200, status)
	require.Contains(t, string(body), `"node_url":"`+n.BaseURL+`"`)
}
