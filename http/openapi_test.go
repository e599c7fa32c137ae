package http_test

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/http/openapitest"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/node/nodetest"
)

// oaDoc is the part of the OpenAPI document these tests read.
type oaDoc struct {
	OpenAPI    string                `yaml:"openapi"`
	Security   []map[string][]string `yaml:"security"`
	Tags       []struct{ Name string }
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Responses map[string]oaResponse `yaml:"responses"`
	} `yaml:"components"`
}

type oaOperation struct {
	OperationID string                 `yaml:"operationId"`
	Tags        []string               `yaml:"tags"`
	Security    *[]map[string][]string `yaml:"security"`
	Responses   map[string]oaResponse  `yaml:"responses"`
}

type oaResponse struct {
	Ref     string                    `yaml:"$ref"`
	Content map[string]map[string]any `yaml:"content"`
}

var oaMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

func readOpenAPI(t *testing.T) oaDoc {
	t.Helper()
	var doc oaDoc
	require.NoError(t, yaml.Unmarshal(vhttp.OpenAPI(), &doc))
	return doc
}

// eachOperation calls f with every operation of the document, in path
// order.
func eachOperation(t *testing.T, doc oaDoc, f func(method, path string, op oaOperation)) {
	t.Helper()
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for m, node := range doc.Paths[p] {
			if !oaMethods[m] {
				continue
			}
			var op oaOperation
			require.NoError(t, node.Decode(&op), "%s %s", m, p)
			f(strings.ToUpper(m), p, op)
		}
	}
}

// The document is valid OpenAPI 3.1 by the specification's own schema.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	require.Empty(t, openapitest.DocumentProblems(vhttp.OpenAPI()))
	require.True(t, strings.HasPrefix(readOpenAPI(t).OpenAPI, "3.1."))
}

// The document is plain YAML that every tool reads the same way: no
// anchors or aliases (generated clients would get anonymous copies instead
// of named types), and no mapping key with a space or a null value, which
// is what a comma inside a flow mapping ({description: a, b}) produces.
func TestOpenAPIDocumentIsPlainYAML(t *testing.T) {
	t.Parallel()
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(vhttp.OpenAPI(), &root))
	var problems []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Anchor != "" {
			problems = append(problems, fmt.Sprintf("line %d: anchor &%s", n.Line, n.Anchor))
		}
		if n.Kind == yaml.AliasNode {
			problems = append(problems, fmt.Sprintf("line %d: alias *%s", n.Line, n.Value))
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				switch {
				case k.Value == "<<":
					problems = append(problems, fmt.Sprintf("line %d: merge key", k.Line))
				case strings.ContainsAny(k.Value, " \t"):
					problems = append(problems, fmt.Sprintf("line %d: key %q has a space", k.Line, k.Value))
				case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
					problems = append(problems, fmt.Sprintf("line %d: key %q has no value", k.Line, k.Value))
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	require.Empty(t, problems)
}

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]+$`)

// problemSchemas are the schemas an error answer of the edge may name.
var problemSchemas = map[string]bool{
	"#/components/schemas/Problem":              true,
	"#/components/schemas/ValidationError":      true,
	"#/components/schemas/IdempotencyKeyReused": true,
	"#/components/schemas/InsufficientFunds":    true,
}

// Every operation has a unique camelCase operationId and declared tags, and
// every error answer of the edge is a problem document. An HTML page (an
// operation whose success is text/html) may also answer its refusals as a
// page.
func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	doc := readOpenAPI(t)
	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	eachOperation(t, doc, func(method, path string, op oaOperation) {
		where := method + " " + path
		require.Regexp(t, camelCase, op.OperationID, "%s: operationId", where)
		require.Empty(t, ids[op.OperationID], "%s: operationId %s is also %s", where, op.OperationID, ids[op.OperationID])
		ids[op.OperationID] = where
		require.NotEmpty(t, op.Tags, where)
		for _, tag := range op.Tags {
			require.True(t, tags[tag], "%s: tag %s is not declared", where, tag)
		}
		// The sandbox's fakes answer in their providers' shapes, and
		// /readyz lists its checks.
		if strings.HasPrefix(path, "/sandbox") || path == "/readyz" {
			return
		}
		page := false
		for code, resp := range op.Responses {
			if _, html := resp.Content["text/html"]; html && code[0] == '2' {
				page = true
			}
		}
		for code, resp := range op.Responses {
			if code[0] != '4' && code[0] != '5' {
				continue
			}
			if ref, ok := strings.CutPrefix(resp.Ref, "#/components/responses/"); ok {
				var found bool
				resp, found = doc.Components.Responses[ref]
				require.True(t, found, "%s %s: no response %s", where, code, ref)
			}
			pages := 0
			if _, html := resp.Content["text/html"]; html && page {
				pages = 1
			}
			if pages == 1 && len(resp.Content) == 1 {
				continue
			}
			require.Len(t, resp.Content, 1+pages, "%s %s", where, code)
			media, ok := resp.Content["application/problem+json"]
			require.True(t, ok, "%s %s is not application/problem+json", where, code)
			schema, _ := media["schema"].(map[string]any)
			refs := []any{schema["$ref"]}
			if one, ok := schema["oneOf"].([]any); ok {
				refs = nil
				for _, s := range one {
					refs = append(refs, s.(map[string]any)["$ref"])
				}
			}
			for _, r := range refs {
				s, _ := r.(string)
				require.True(t, problemSchemas[s], "%s %s names %v, not a problem schema", where, code, r)
			}
		}
	})
}

// Every component is used: a schema left behind by a change would describe
// nothing the edge does.
func TestOpenAPIComponentsAreUsed(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components map[string]map[string]any `yaml:"components"`
	}
	raw := vhttp.OpenAPI()
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	for kind, items := range doc.Components {
		if kind == "securitySchemes" {
			continue
		}
		for name := range items {
			ref := fmt.Sprintf("'#/components/%s/%s'", kind, name)
			require.True(t, bytes.Contains(raw, []byte(ref)), "components/%s/%s is never referenced", kind, name)
		}
	}
}

// The security of each operation is the access of its route: public
// routes say `security: []`, merchant routes take the document's default
// (bearer) and ops routes the ops token.
func TestOpenAPISecurityMatchesRouteAccess(t *testing.T) {
	t.Parallel()
	doc := readOpenAPI(t)
	require.Equal(t, []map[string][]string{{"bearer": {}}}, doc.Security, "the default is the bearer scheme")
	security := map[string]*[]map[string][]string{}
	eachOperation(t, doc, func(method, path string, op oaOperation) {
		security[method+" "+path] = op.Security
	})
	n := nodetest.Start(t, nodetest.Options{})
	for _, rt := range n.HTTP.Routes() {
		key := rt.Method + " " + rt.Path
		sec, ok := security[key]
		require.True(t, ok, "%s is not in the document", key)
		switch rt.Access {
		case vhttp.Public:
			require.NotNil(t, sec, "%s is public: it needs security: []", key)
			require.Empty(t, *sec, "%s is public: it needs security: []", key)
		case vhttp.Merchant:
			if sec != nil {
				require.Equal(t, []map[string][]string{{"bearer": {}}}, *sec, key)
			}
		case vhttp.Ops:
			require.NotNil(t, sec, "%s takes the ops token", key)
			require.Equal(t, []map[string][]string{{"opsToken": {}}}, *sec, key)
		default:
			t.Fatalf("%s: unknown access %d", key, rt.Access)
		}
	}
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// The answers of the routes that the feature tests do not call through
// apiCall (meta, ops, provider webhooks, the sandbox, the edge's own
// refusals) are checked against the document too; apiCall does the
// checking.
func TestOpenAPIDescribesMetaOpsWebhookAndSandboxAnswers(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	base, ops := n.BaseURL, n.OpsToken

	apiCall(t, base, "GET", "/healthz", "", nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/readyz", "", nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/metrics", "", nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/openapi.yaml", "", nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops", "", nil).requireStatus(t, 200)

	// The router's own refusals have no operation.
	apiCall(t, base, "GET", "/nope", "", nil).requireProblem(t, 404, "not_found")
	apiCall(t, base, "DELETE", "/healthz", "", nil).requireProblem(t, 405, "method_not_allowed")

	apiCall(t, base, "GET", "/ops/cluster", "", nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, base, "GET", "/ops/cluster", "wrong", nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, base, "GET", "/ops/cluster", ops, nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/queues", ops, nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/ledger/check", ops, nil).requireStatus(t, 200)
	apiCall(t, base, "POST", "/ops/queues/nope/dead/replay", ops, nil).requireProblem(t, 404, "not_found")
	apiCall(t, base, "POST", "/ops/cluster/members/nope/drain", ops, nil).requireProblem(t, 404, "not_found")
	apiCall(t, base, "GET", "/ops/console.js", "", nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/console.css", "", nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/metrics", ops, nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/metrics?seconds=121", ops, nil).requireProblem(t, 422, "validation_failed")
	apiCall(t, base, "GET", "/ops/cluster/metrics?seconds=5", ops, nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/outbox", ops, nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/queues/orders-sync/dead", ops, nil).requireStatus(t, 200)
	apiCall(t, base, "GET", "/ops/queues/nope/dead", ops, nil).requireProblem(t, 404, "not_found")
	apiCall(t, base, "GET", "/ops/queues/orders-sync/dead?limit=0", ops, nil).requireProblem(t, 422, "validation_failed")

	// Idempotency-Key refusals on a public POST.
	apiCall(t, base, "POST", "/v1/auth/verify-email", "", map[string]any{"token": "x"}, "Idempotency-Key", strings.Repeat("k", 256)).
		requireProblem(t, 400, "bad_request")
	apiCall(t, base, "POST", "/v1/auth/verify-email", "", map[string]any{"token": "x"}, "Idempotency-Key", "k1").
		requireProblem(t, 422, "validation_failed")
	apiCall(t, base, "POST", "/v1/auth/verify-email", "", map[string]any{"token": "y"}, "Idempotency-Key", "k1").
		requireProblem(t, 422, "idempotency_key_reused")

	sb := n.Sandbox.Config()
	charge := chargeSuccess(4099260900, "ord_oa_1")
	apiCall(t, base, "POST", "/webhooks/paystack", "", string(charge)).requireProblem(t, 401, "unauthorized")
	apiCall(t, base, "POST", "/webhooks/paystack", "", string(charge), paystack.SignatureHeader, paystack.Sign(sb.PaystackSecret, charge)).requireStatus(t, 200)
	dup := apiCall(t, base, "POST", "/webhooks/paystack", "", string(charge), paystack.SignatureHeader, paystack.Sign(sb.PaystackSecret, charge)).requireStatus(t, 200)
	require.Equal(t, true, dup.Body["duplicate"])
	junk := []byte(`{"hello":"world"}`)
	apiCall(t, base, "POST", "/webhooks/paystack", "", string(junk), paystack.SignatureHeader, paystack.Sign(sb.PaystackSecret, junk)).requireProblem(t, 400, "bad_request")

	wa := waNotification("200000000000009", []map[string]any{
		{"from": "2348044444449", "id": "wamid.OA1", "timestamp": "1767348000", "type": "text", "text": map[string]any{"body": "hi"}},
	}, nil)
	apiCall(t, base, "POST", "/webhooks/whatsapp", "", string(wa)).requireProblem(t, 401, "unauthorized")
	apiCall(t, base, "POST", "/webhooks/whatsapp", "", string(wa), whatsapp.SignatureHeader, whatsapp.Sign(sb.WhatsAppAppSecret, wa)).requireStatus(t, 200)
	apiCall(t, base, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42", "", nil).requireProblem(t, 403, "forbidden")
	ok := apiCall(t, base, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token="+sb.WhatsAppVerifyToken+"&hub.challenge=42", "", nil).requireStatus(t, 200)
	require.Equal(t, "42", string(ok.Raw))

	// Every sandbox route, called as a script would without arguments.
	count := 0
	for _, rt := range n.HTTP.Routes() {
		if !strings.HasPrefix(rt.Path, "/sandbox/") {
			continue
		}
		count++
		var body any
		if rt.Method == "POST" {
			body = "{}"
		}
		apiCall(t, base, rt.Method, pathParam.ReplaceAllString(rt.Path, "x1"), "", body)
	}
	require.GreaterOrEqual(t, count, 20)
}
