package http

import (
	"testing"
)

func FuzzDecodePayout(f *testing.F) {
	for _, s := range []string{
		`{"amount":250000,"bank_account":{"account_number":"0123456789","bank_code":"058","name":"Ada Obi"}}`,
		`{"amount":-1,"bank_account":{}}`, `{"amount":1e3}`, `{"bank_account":null}`, `[]`, `{"amount":"5"}`, ``,
		`{"amount":9223372036854775807,"bank_account":{"account_number":"\u0000","bank_code":"x","name":"y"},"extra":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodePayout(body)
		checkDecoded(t, m, err)
	})
}

func FuzzDecodeStoreFee(f *testing.F) {
	for _, s := range []string{`{"fee_bps":150}`, `{"fee_bps":-5}`, `{"fee_bps":1.5}`, `{}`, `{"fee_bps":99999999999}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeStoreFee(body)
		checkDecoded(t, m, err)
	})
}
