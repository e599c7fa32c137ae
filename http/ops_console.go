package http

import (
	"context"
	_ "embed"

	"github.com/valyala/fasthttp"
)

// The ops console: a page, its script and its style sheet, embedded and
// served by every node. The page holds no data; the script asks for the
// ops token, keeps it in the tab's sessionStorage and calls the ops routes
// with it in the Authorization header, never in a URL.
var (
	//go:embed ops.html
	opsPage []byte
	//go:embed ops_console.js
	opsScript []byte
	//go:embed ops_console.css
	opsStyle []byte
)

// consoleCSP lets the console load only its own script and style sheet and
// call only its own origin; nothing may frame it.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// registerConsoleRoutes adds GET /ops, /ops/console.js and /ops/console.css.
func registerConsoleRoutes(r *Routes) {
	for _, f := range []struct {
		path, contentType string
		body              []byte
	}{
		{"/ops", "text/html; charset=utf-8", opsPage},
		{"/ops/console.js", "text/javascript; charset=utf-8", opsScript},
		{"/ops/console.css", "text/css; charset=utf-8", opsStyle},
	} {
		r.Handle("GET", f.path, Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			h := &rc.Response.Header
			h.SetContentType(f.contentType)
			h.Set("Content-Security-Policy", consoleCSP)
			h.Set("X-Frame-Options", "DENY")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-cache")
			rc.Response.SetBodyRaw(f.body)
			return nil
		})
	}
}
