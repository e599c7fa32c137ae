package postgres

import (
	"context"
	"fmt"
)

// MigrateUpTo applies the embedded migrations up to and including version,
// for tests of what a migration does to data written before it.
func MigrateUpTo(ctx context.Context, url string, version int64) error {
	sqlDB, err := openSQL(url)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	p, err := newProvider(sqlDB)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("postgres: migrate up to %d: %w", version, err)
	}
	return nil
}

// OrdersByPhoneSQL is the query of Conversations.OrdersByPhone, for a test
// of its plan.
const OrdersByPhoneSQL = ordersByPhoneSQL
