package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

func TestHasherVerifies(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(TestHashParams)
	enc, err := h.Hash(ctx, "correct horse battery")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$"), enc)

	ok, err := h.Verify(ctx, "correct horse battery", enc)
	require.NoError(t, err)
	require.True(t, ok)

	ok, err = h.Verify(ctx, "correct horse batterY", enc)
	require.NoError(t, err)
	require.False(t, ok)

	// Same password, fresh salt: a different hash that verifies too.
	enc2, err := h.Hash(ctx, "correct horse battery")
	require.NoError(t, err)
	require.NotEqual(t, enc, enc2)
	ok, err = h.Verify(ctx, "correct horse battery", enc2)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestHasherDefaultsAreRFC9106(t *testing.T) {
	h := NewHasher(HashParams{})
	p := h.Params()
	require.Equal(t, uint32(3), p.Time)
	require.Equal(t, uint32(64*1024), p.MemoryKiB)
	require.Equal(t, uint8(4), p.Threads)
	require.Equal(t, DefaultConcurrency, p.Concurrency)
}

func TestHasherVerifiesOtherParameters(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(HashParams{Time: 2, MemoryKiB: 128, Threads: 2})
	enc, err := old.Hash(ctx, "a long enough password")
	require.NoError(t, err)

	cur := NewHasher(TestHashParams)
	ok, err := cur.Verify(ctx, "a long enough password", enc)
	require.NoError(t, err)
	require.True(t, ok, "a hash carries its own parameters")
	require.True(t, cur.NeedsRehash(enc))
	require.False(t, old.NeedsRehash(enc))
}

func TestHasherEmptyHashNeverVerifies(t *testing.T) {
	h := NewHasher(TestHashParams)
	for _, pw := range []string{"", "anything at all", "x"} {
		ok, err := h.Verify(context.Background(), pw, "")
		require.NoError(t, err)
		require.False(t, ok)
	}
}

func TestHasherRejectsMalformedHashes(t *testing.T) {
	h := NewHasher(TestHashParams)
	good, err := h.Hash(context.Background(), "a long enough password")
	require.NoError(t, err)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for name, enc := range map[string]string{
		"garbage":           "not a hash",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":           "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"old version":       "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"missing parameter": "$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"unknown parameter": "$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"zero time":         "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"huge memory":       "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"huge time":         "$argon2id$v=19$m=64,t=100000,p=1$" + salt + "$" + key,
		"too many lanes":    "$argon2id$v=19$m=64,t=1,p=300$" + salt + "$" + key,
		"bad salt":          "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key,
		"short salt":        "$argon2id$v=19$m=64,t=1,p=1$YQ$" + key,
		"bad key":           "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$???",
		"short key":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$YWJj",
		"extra field":       good + "$x",
		"negative":          "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
	} {
		t.Run(name, func(t *testing.T) {
			ok, err := h.Verify(context.Background(), "a long enough password", enc)
			require.False(t, ok)
			require.True(t, errors.Is(err, ErrMalformedHash), "got %v", err)
			require.True(t, h.NeedsRehash(enc))
		})
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	h := NewHasher(HashParams{Time: 1, MemoryKiB: 64, Threads: 1, Concurrency: 1})
	require.NoError(t, h.acquire(context.Background()))
	defer h.release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := h.Hash(ctx, "a long enough password")
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
}

// FuzzVerify checks that no stored hash makes verification panic or accept
// a password it was not made from.
func FuzzVerify(f *testing.F) {
	h := NewHasher(TestHashParams)
	good, _ := h.Hash(context.Background(), "a long enough password")
	for _, s := range []string{good, "", "$argon2id$v=19$m=64,t=1,p=1$$", "$argon2id$v=19$m=8,t=1,p=1$YWFhYWFhYWE$YWFhYWFhYWFhYWFhYWFhYQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		if p, _, _, err := decodeHash(enc); err == nil && uint64(p.Time)*uint64(p.MemoryKiB) > 1<<16 {
			t.Skip("valid but too costly to compute while fuzzing")
		}
		ok, err := h.Verify(context.Background(), "not the password", enc)
		if ok {
			t.Fatalf("verified a wrong password against %q", enc)
		}
		if err != nil && !errors.Is(err, ErrMalformedHash) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
