package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
)

// snapshotOf makes a snapshot with n active products, titles that need
// JSON's HTML escaping included.
func snapshotOf(n int) *actors.Storefront {
	m := &messages.StorefrontSnapshot{StoreId: "st_1", Epoch: 3, Version: 9, Slug: "shop", Name: "Shop & <Co>", Currency: "NGN", Open: true}
	for i := range n {
		m.Products = append(m.Products, &messages.StorefrontEntry{Seq: int64(i + 1), Product: &messages.Product{
			Id: fmt.Sprintf("prod_%02d", i), Title: fmt.Sprintf("<b>Scarf</b> & wrap %d \u2028", i), Description: "\"quoted\"\n",
			Status: "active", CreatedAtUnixMs: 1700000000000 + int64(i), UpdatedAtUnixMs: 1700000000500,
			Variants: []*messages.Variant{{Id: fmt.Sprintf("var_%d", i), Sku: "S", Title: "One", Price: 1500, Currency: "NGN", Available: int64(i), OnHand: 10, Reserved: int64(10 - i)}},
		}})
	}
	return actors.StorefrontFromProto(m)
}

// A page assembled from the products' encodings is byte for byte what
// json.Marshal makes of the list answer, on every page of the list.
func TestStorefrontPageIsTheJSONEncodingOfTheList(t *testing.T) {
	sf := snapshotOf(7)
	for _, limit := range []int32{1, 3, 7, 50} {
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			page, next, err := sf.Page(limit, cursor)
			require.NoError(t, err)
			want := &messages.ProductPage{NextCursor: next}
			for _, p := range page {
				want.Products = append(want.Products, p.Product)
			}
			body, err := json.Marshal(productList(want, false))
			require.NoError(t, err)
			got := pageRendered(page, next)
			require.NoError(t, got.err)
			require.Equal(t, string(body), string(got.body), "limit %d cursor %q", limit, cursor)
			require.Equal(t, tagged(body).tag, got.tag)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	empty := snapshotOf(0)
	page, next, err := empty.Page(0, "")
	require.NoError(t, err)
	require.Equal(t, `{"data":[],"next_cursor":null}`, string(pageRendered(page, next).body))
}

// Pages walk the active products newest first, each exactly once, and the
// cursor refusals are the store actor's.
func TestStorefrontPagesWalkNewestFirst(t *testing.T) {
	sf := snapshotOf(5)
	var seen []string
	cursor := ""
	for {
		page, next, err := sf.Page(2, cursor)
		require.NoError(t, err)
		for _, p := range page {
			seen = append(seen, p.Product.GetId())
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, []string{"prod_04", "prod_03", "prod_02", "prod_01", "prod_00"}, seen)
	_, _, err := sf.Page(2, "not-a-cursor")
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	_, _, err = sf.Page(500, "")
	require.Error(t, err)
}

// ETags are quoted, strong, and depend on the bytes only.
func TestStorefrontETagsNameTheBytes(t *testing.T) {
	a, b := tagged([]byte(`{"a":1}`)), tagged([]byte(`{"a":1}`))
	require.Equal(t, a.tag, b.tag)
	require.Regexp(t, `^"[0-9a-f]{16}"$`, a.tag)
	require.NotEqual(t, a.tag, tagged([]byte(`{"a":2}`)).tag)
}

func TestNoneMatch(t *testing.T) {
	tag := `"0123456789abcdef"`
	for header, want := range map[string]bool{
		tag:                          true,
		"W/" + tag:                   true,
		`"other", ` + tag:            true,
		`"other",W/` + tag + `, "x"`: true,
		"*":                          true,
		`"other"`:                    false,
		`0123456789abcdef`:           false,
		`"0123456789abcdef`:          false,
		`W/"0123456789abcde"`:        false,
		`, ,`:                        false,
		`W/`:                         false,
		`junk, ` + tag:               true,
	} {
		require.Equal(t, want, noneMatch([]byte(header), tag), "If-None-Match: %s", header)
	}
}

// noneMatchSpec is If-None-Match's weak comparison written from RFC 9110
// the slow way: split the list, trim, drop W/, compare.
func noneMatchSpec(header, tag string) bool {
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, m := range strings.Split(header, ",") {
		m = strings.TrimPrefix(strings.Trim(m, " \t"), "W/")
		if len(m) >= 2 && m[0] == '"' && m[len(m)-1] == '"' && !strings.Contains(m[1:len(m)-1], `"`) && m == tag {
			return true
		}
	}
	return false
}

// FuzzNoneMatch: any header is read without panicking, and a header of
// well-formed members (no "*" among them) matches exactly when the spec's
// reading says so.
func FuzzNoneMatch(f *testing.F) {
	tag := `"0123456789abcdef"`
	for _, s := range []string{tag, "W/" + tag, `"a", ` + tag, "*", `"a"`, `W/`, `"`, `,,`, "\"\x00\"", `W/"a",W/"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := noneMatch([]byte(header), tag)
		wellFormed := true
		for _, m := range strings.Split(header, ",") {
			m = strings.TrimPrefix(strings.Trim(m, " \t"), "W/")
			if m == "" {
				continue
			}
			if len(m) < 2 || m[0] != '"' || m[len(m)-1] != '"' || strings.Contains(m[1:len(m)-1], `"`) || strings.ContainsAny(m, " \t*") {
				wellFormed = false
			}
		}
		if wellFormed && !bytes.Contains([]byte(header), []byte("*")) && got != noneMatchSpec(header, tag) {
			t.Fatalf("noneMatch(%q) = %v, the spec says %v", header, got, !got)
		}
	})
}
