package vayva

import "testing"

func TestFormatMoney(t *testing.T) {
	for _, c := range []struct {
		amount   int64
		currency string
		want     string
	}{
		{250000, "NGN", "NGN 2,500.00"},
		{5, "NGN", "NGN 0.05"},
		{-123456789, "GHS", "GHS -1,234,567.89"},
		{100000000, "", "1,000,000.00"},
		{0, "USD", "USD 0.00"},
	} {
		if got := FormatMoney(c.amount, c.currency); got != c.want {
			t.Errorf("FormatMoney(%d, %q) = %q, want %q", c.amount, c.currency, got, c.want)
		}
	}
}
