package http_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node/nodetest"
)

// screenshotDir is where browser tests leave their screenshots (ignored by
// git), relative to this package.
const screenshotDir = "../screenshots"

// chromiumPath finds a headless-capable Chromium. Without one the browser
// tests fail under CI (make test installs it) and are skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: `make chromium` installs it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: `make chromium` installs it (apt-get install chromium)")
	return ""
}

// browser starts a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1400),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	return ctx
}

// browse runs browser actions, failing the test on the first error.
func browse(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// read runs one browser action and returns its value.
func read[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// consoleMember is a member as GET /ops/cluster shows it.
type consoleMember struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Self     bool   `json:"self"`
	JoinedAt string `json:"joined_at"`
	LastSeen string `json:"last_seen"`
}

func clusterMembers(t *testing.T, n *nodetest.Node) []consoleMember {
	t.Helper()
	r := hookDo(t, "GET", n.BaseURL+"/ops/cluster", nil, "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, 200, r.status, "body %s", r.body)
	var c struct{ Members []consoleMember }
	require.NoError(t, json.Unmarshal(r.body, &c))
	return c.Members
}

// The console in a real browser against two real members of one cluster:
// it refuses a wrong token, signs in, shows both members with age,
// heartbeat and activations, a traffic chart per member carrying the
// requests each one answered, the queues with their dead letters, the
// outbox backlog and the ledger check, all under a CSP that blocks inline
// script; draining a member takes a confirmation step, and cancelling it
// changes nothing.
func TestOpsConsoleInBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)

	opts := nodetest.Options{ClusterProvider: "postgres", ClusterName: vayva.NewID("cluster"), Env: map[string]string{"VAYVA_ROLES": "edge,actors"}}
	a := nodetest.Start(t, opts)
	opts.DatabaseURL, opts.RedisPrefix = a.DatabaseURL, a.RedisPrefix
	b := nodetest.Start(t, opts)
	require.Eventually(t, func() bool { return len(clusterMembers(t, a)) == 2 && len(clusterMembers(t, b)) == 2 },
		20*time.Second, 20*time.Millisecond, "the members see each other")

	// Real traffic on both members: a merchant and a product (a store
	// activation), health checks and unknown routes (4xx).
	m := signup(t, a.BaseURL, "Console Fabrics")
	apiCall(t, a.BaseURL, "POST", "/v1/products", m.token, map[string]any{
		"title": "Adire scarf", "status": "active", "variants": []map[string]any{{"sku": "SCARF", "price": 1500000, "inventory_quantity": 5}},
	}).requireStatus(t, 201)
	for range 5 {
		hookDo(t, "GET", a.BaseURL+"/healthz", nil)
		hookDo(t, "GET", b.BaseURL+"/healthz", nil)
		hookDo(t, "GET", b.BaseURL+"/nope", nil)
	}
	// And a steady trickle until the screenshot, so the charts have a
	// shape: at most 20 rounds a second, 400 in all.
	stopTraffic := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := range 400 {
			select {
			case <-stopTraffic:
				return
			case <-tick.C:
			}
			urls := []string{a.BaseURL + "/healthz", b.BaseURL + "/healthz"}
			if i%4 == 0 {
				urls = append(urls, b.BaseURL+"/nope")
			}
			for _, u := range urls {
				if res, err := hookClient.Get(u); err == nil {
					res.Body.Close()
				}
			}
		}
	}()
	endTraffic := func() {
		select {
		case <-stopTraffic:
		default:
			close(stopTraffic)
		}
		<-trafficDone
	}
	defer endTraffic()

	// Two dead letters on orders-sync, from a real consumer whose handler
	// fails their only attempt.
	deadLetterJobs(t, a, `{"order":"x"}`)

	// The page and its assets carry the console's headers.
	for _, path := range []string{"/ops", "/ops/console.js", "/ops/console.css"} {
		r := hookDo(t, "GET", a.BaseURL+path, nil)
		require.Equal(t, 200, r.status, path)
		require.Equal(t, "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "+
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'", r.header.Get("Content-Security-Policy"), path)
		require.Equal(t, "DENY", r.header.Get("X-Frame-Options"), path)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"), path)
	}
	page := hookDo(t, "GET", a.BaseURL+"/ops", nil)
	require.NotContains(t, string(page.body), "<script>", "no inline script")
	require.NotContains(t, string(page.body), "http://", "nothing loaded from elsewhere")
	require.NotContains(t, string(page.body), "https://", "nothing loaded from elsewhere")

	var bID string
	for _, mem := range clusterMembers(t, a) {
		if !mem.Self {
			bID = mem.ID
		}
	}
	require.Equal(t, b.Member.ID(), bID)

	// Every browser step from here on is bounded.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// A wrong token is refused and the form stays.
	browse(t, ctx,
		chromedp.Navigate(a.BaseURL+"/ops"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "wrong-token"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#login-error:not(:empty)")),
	)
	loginError := read(t, ctx, chromedp.Text(chromedp.ID("login-error")))
	require.Contains(t, loginError, "ops token")

	// The right one opens the console.
	browse(t, ctx,
		chromedp.SendKeys(chromedp.ID("token"), a.OpsToken),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("console")),
		chromedp.WaitVisible(chromedp.CSS(`#members tbody tr[data-member="`+bID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#charts .chart-card[data-member="`+bID+`"] svg.chart`)),
		chromedp.WaitVisible(chromedp.CSS(`#queues tbody tr[data-queue="orders-sync"] button.inspect`)),
		chromedp.WaitVisible(chromedp.CSS(`#ledger.ok`)),
	)

	// What the page shows, read from the DOM.
	type pageView struct {
		Members []struct {
			ID, Status, Age, Heartbeat, Activations string
		}
		Charts []struct {
			ID       string
			Requests int
			Lines    int
			Points   int
		}
		Queues      map[string][]string
		Outbox      string
		Ledger      string
		Href        string
		Stored      string
		InlineRan   bool
		StyleLoaded bool
	}
	seen := read(t, ctx, chromedp.Evaluate[pageView](`(() => {
		const text = (e, s) => e.querySelector(s).textContent;
		const inline = document.createElement("script");
		inline.textContent = "window.__inlineRan = true";
		document.body.appendChild(inline);
		return {
			Members: [...document.querySelectorAll("#members tbody tr")].map((tr) => ({
				ID: tr.dataset.member, Status: tr.cells[1].textContent, Age: text(tr, ".age"),
				Heartbeat: text(tr, ".heartbeat"), Activations: text(tr, ".activations"),
			})),
			Charts: [...document.querySelectorAll("#charts .chart-card")].map((c) => ({
				ID: c.dataset.member, Requests: Number(c.dataset.requests),
				Lines: c.querySelectorAll("svg.chart polyline").length,
				Points: c.querySelector('svg.chart polyline[data-series="requests"]').getAttribute("points").split(" ").length,
			})),
			Queues: Object.fromEntries([...document.querySelectorAll("#queues tbody tr")].map((tr) =>
				[tr.dataset.queue, [...tr.cells].slice(1, 5).map((td) => td.textContent)])),
			Outbox: document.getElementById("outbox").textContent,
			Ledger: document.getElementById("ledger").textContent,
			Href: location.href,
			Stored: sessionStorage.getItem("vayva.ops.token"),
			InlineRan: window.__inlineRan === true,
			StyleLoaded: getComputedStyle(document.querySelector("th")).fontWeight === "600",
		};
	})()`))

	require.Len(t, seen.Members, 2)
	activations := map[string]string{}
	for _, mem := range seen.Members {
		require.Equal(t, "alive", mem.Status, mem.ID)
		require.Regexp(t, `^\d+(\.\d)? (ms|s)$|^\d+ min \d+ s$`, mem.Age, mem.ID)
		require.Regexp(t, `^\d+(\.\d)? (ms|s) ago$`, mem.Heartbeat, mem.ID)
		activations[mem.ID] = mem.Activations
	}
	require.Contains(t, activations[a.Member.ID()]+activations[bID], "store: 1", "the store's activation is shown on its member")

	require.Len(t, seen.Charts, 2)
	for _, ch := range seen.Charts {
		require.Equal(t, 5, ch.Lines, "requests, p50, p99, 4xx and 5xx")
		require.Equal(t, 60, ch.Points, "one point a second")
	}
	byID := map[string]int{seen.Charts[0].ID: seen.Charts[0].Requests, seen.Charts[1].ID: seen.Charts[1].Requests}
	require.GreaterOrEqual(t, byID[a.Member.ID()], 7, "sign-up, product and health checks on a")
	require.GreaterOrEqual(t, byID[bID], 10, "health checks and unknown routes on b, fetched from b by a")

	require.Equal(t, []string{"0", "0", "0", "2"}, seen.Queues[vayva.QueueOrdersSync], "length, pending, delayed, dead")
	require.Contains(t, seen.Queues, vayva.QueueEmail)

	ob := hookDo(t, "GET", a.BaseURL+"/ops/outbox", nil, "Authorization", "Bearer "+a.OpsToken)
	require.Equal(t, 200, ob.status)
	var backlog struct {
		Unpublished int64   `json:"unpublished"`
		Lag         float64 `json:"lag_seconds"`
	}
	require.NoError(t, json.Unmarshal(ob.body, &backlog))
	require.Positive(t, backlog.Unpublished, "no relay runs here: the sign-up's events wait")
	require.Contains(t, seen.Outbox, "event(s) wait to be published")
	require.Contains(t, seen.Ledger, "all invariants hold")

	require.NotContains(t, seen.Href, a.OpsToken, "the token is never in the URL")
	require.Equal(t, a.OpsToken, seen.Stored, "the token is kept in sessionStorage")
	require.False(t, seen.InlineRan, "the CSP blocks inline script")
	require.True(t, seen.StyleLoaded, "the style sheet loads under the CSP")

	// Dead-letter inspection.
	browse(t, ctx,
		chromedp.Click(chromedp.CSS(`#queues tbody tr[data-queue="orders-sync"] button.inspect`)),
		chromedp.WaitVisible(chromedp.ID("dead")),
	)
	deadRows := read(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#dead-letters tbody tr").length`))
	deadText := read(t, ctx, chromedp.Text(chromedp.CSS("#dead-letters tbody")))
	require.Equal(t, 2, deadRows)
	require.Contains(t, deadText, "upstream refused")
	require.Contains(t, deadText, "orders.sync")
	require.NotContains(t, deadText, `"order":"x"`, "payloads are not shown")

	// Two more refreshes with the trickle on, then the screenshot.
	refreshed := read(t, ctx, chromedp.Evaluate[string](`document.body.dataset.refreshed`))
	browse(t, ctx, chromedp.WaitVisible(chromedp.CSS(`body:not([data-refreshed="`+refreshed+`"])`)))
	refreshed = read(t, ctx, chromedp.Evaluate[string](`document.body.dataset.refreshed`))
	browse(t, ctx, chromedp.WaitVisible(chromedp.CSS(`body:not([data-refreshed="`+refreshed+`"])`)))
	endTraffic()
	require.NoError(t, os.MkdirAll(screenshotDir, 0o755))
	shot := read(t, ctx, chromedp.FullScreenshot(100))
	require.NoError(t, os.WriteFile(filepath.Join(screenshotDir, "ops-console.png"), shot, 0o644))

	// Drain: a confirmation step first; cancelling changes nothing.
	drainButton := `#members tbody tr[data-member="` + bID + `"] button.drain`
	browse(t, ctx,
		chromedp.Click(chromedp.CSS(drainButton)),
		chromedp.WaitVisible(chromedp.CSS("#confirm[open]")),
	)
	dialogText := read(t, ctx, chromedp.Text(chromedp.ID("confirm")))
	require.Contains(t, dialogText, "Drain member "+bID+"?")
	shot = read(t, ctx, chromedp.FullScreenshot(100))
	require.NoError(t, os.WriteFile(filepath.Join(screenshotDir, "ops-console-drain.png"), shot, 0o644))
	browse(t, ctx,
		chromedp.Click(chromedp.ID("confirm-cancel")),
		chromedp.WaitNotPresent(chromedp.CSS("#confirm[open]")),
	)
	for _, mem := range clusterMembers(t, a) {
		require.Equal(t, "alive", mem.Status, "cancelled: %s", mem.ID)
	}

	// Confirmed, the member drains and the console shows it.
	browse(t, ctx,
		chromedp.Click(chromedp.CSS(drainButton)),
		chromedp.WaitVisible(chromedp.CSS("#confirm[open]")),
		chromedp.Click(chromedp.ID("confirm-ok")),
		chromedp.WaitNotPresent(chromedp.CSS("#confirm[open]")),
	)
	select {
	case <-b.Member.DrainRequested():
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not reach the member")
	}
	browse(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#members tbody tr[data-member="`+bID+`"] .badge.warn`)))
	status := read(t, ctx, chromedp.Text(chromedp.CSS(`#members tbody tr[data-member="`+bID+`"] .badge`)))
	require.Equal(t, "draining", strings.TrimSpace(status))

	// Signing out forgets the token.
	browse(t, ctx,
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("login")),
	)
	stored := read(t, ctx, chromedp.Evaluate[*string](`sessionStorage.getItem("vayva.ops.token")`))
	require.Nil(t, stored)
}
