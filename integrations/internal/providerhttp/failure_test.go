package providerhttp_test

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

func TestErrorText(t *testing.T) {
	t.Parallel()
	require.Equal(t, "status 400: bad amount", providerhttp.ErrorText(400, "bad amount", nil))
	require.Equal(t, "request failed: unexpected EOF", providerhttp.ErrorText(0, "request failed", io.ErrUnexpectedEOF))
	require.Equal(t, "status 502: read response: unexpected EOF", providerhttp.ErrorText(502, "read response", io.ErrUnexpectedEOF))
	require.Equal(t, "", providerhttp.ErrorText(0, "", nil))
}

func TestUnwrapped(t *testing.T) {
	t.Parallel()
	errs := providerhttp.Unwrapped(vayva.ENOTFOUND, "Paystack: Transaction not found", nil)
	require.Len(t, errs, 1)
	var ve *vayva.Error
	require.True(t, errors.As(errs[0], &ve))
	require.Equal(t, vayva.ENOTFOUND, ve.Code)
	require.Equal(t, "Paystack: Transaction not found", ve.Message)

	errs = providerhttp.Unwrapped(vayva.EUNAVAILABLE, "Kwik: request failed", io.ErrUnexpectedEOF)
	require.Len(t, errs, 2)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(errs[0]))
	require.Same(t, io.ErrUnexpectedEOF, errs[1])
}
