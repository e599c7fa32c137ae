package http

import (
	"context"
	"io"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
)

// checkDecoded fails unless a decoder either refused body with a client
// error or produced a command that can cross the wire.
func checkDecoded(t *testing.T, msg proto.Message, err error) {
	t.Helper()
	if err != nil {
		switch vayva.ErrorCode(err) {
		case vayva.EBADREQUEST, vayva.EINVALID:
		default:
			t.Fatalf("refused with %v, want a client error", err)
		}
		if s := statusOf(err); s < 400 || s >= 500 {
			t.Fatalf("status %d for %v", s, err)
		}
		return
	}
	if _, err := proto.Marshal(msg); err != nil {
		t.Fatalf("decoded command does not marshal: %v", err)
	}
}

func FuzzDecodeCreateProduct(f *testing.F) {
	for _, s := range []string{
		`{"title":"Shirt","status":"active","variants":[{"sku":"S-1","title":"S","price":100,"inventory_quantity":3}]}`,
		`{"title":"Shirt","variants":[null,7,{"sku":1},{"colour":"red"}]}`,
		`{"title":null,"description":"\u0000","variants":[{"price":1e30}]}`,
		`{"title":"x","variants":{}}`, `{`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeCreateProduct(body)
		checkDecoded(t, m, err)
	})
}

func FuzzDecodeUpdateProduct(f *testing.F) {
	for _, s := range []string{
		`{"title":"Shirt","status":"draft","variants":[{"id":"var_1","price":100,"title":"M"}]}`,
		`{"variants":[{"id":5}]}`, `{"description":""}`, `{}`, `{"variants":[[]]}`, `x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeUpdateProduct(body)
		checkDecoded(t, m, err)
	})
}

func FuzzDecodeAdjustment(f *testing.F) {
	for _, s := range []string{
		`{"variant_id":"var_1","delta":-2,"reason":"count"}`, `{"delta":"1"}`, `{"delta":9223372036854775808}`, `{}`, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeAdjustment(body)
		checkDecoded(t, m, err)
	})
}

func FuzzDecodeCollection(f *testing.F) {
	for _, s := range []string{`{"title":"Summer","product_ids":["prod_1"]}`, `{"product_ids":[1]}`, `{"title":""}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeCollection(body)
		checkDecoded(t, m, err)
	})
}

func FuzzDecodeUpdateStore(f *testing.F) {
	for _, s := range []string{`{"name":"Shop","currency":"NGN","settings":{"theme":"dark"}}`, `{"settings":null}`, `{"settings":[1]}`, `{"slug":"x"}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeUpdateStore(body)
		checkDecoded(t, m, err)
	})
}

type roleAuth struct{ role vayva.Role }

func (a roleAuth) Authenticate(context.Context, string) (vayva.Tenant, error) {
	return vayva.Tenant{MerchantID: "mer_1", StoreID: "sto_1", Role: a.role}, nil
}

// Staff may read the store but not change it; the role check comes before
// the store is asked (this server has no cluster, so a request that gets
// past it is answered 503).
func TestStoreUpdatesNeedOwnerOrAdmin(t *testing.T) {
	t.Parallel()
	for role, want := range map[vayva.Role]int{vayva.RoleStaff: 403, vayva.RoleAdmin: 503, vayva.RoleOwner: 503} {
		s := NewServer(Config{Addr: "127.0.0.1:0"}, Deps{Log: zerolog.Nop(), Registry: prometheus.NewRegistry(), Auth: roleAuth{role}},
			NewCatalogArea(nil, nil, nil))
		require.NoError(t, s.Start(context.Background()))
		t.Cleanup(func() { _ = s.Stop(context.Background()) })
		req, err := nethttp.NewRequest("PATCH", "http://"+s.Addr()+"/v1/store", strings.NewReader(`{"name":"x"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		resp, err := nethttp.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, role)

		req, err = nethttp.NewRequest("GET", "http://"+s.Addr()+"/v1/store", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer t")
		resp, err = nethttp.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 503, resp.StatusCode, "%s reaches the store", role)
	}
}
