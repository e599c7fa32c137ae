package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
)

// JoinMember registers m as alive, or refreshes its row if it is already
// alive. A member id is never reused after it left or was evicted.
func (db *DB) JoinMember(ctx context.Context, m vayva.ClusterMember) error {
	if m.Kinds == nil {
		m.Kinds = []string{}
	}
	tag, err := db.Pool().Exec(ctx, `
		INSERT INTO runtime.members(cluster, id, host, port, http_addr, kinds, status)
		VALUES ($1, $2, $3, $4, $5, $6, 'alive')
		ON CONFLICT (cluster, id) DO UPDATE
		SET host = excluded.host, port = excluded.port, http_addr = excluded.http_addr,
		    kinds = excluded.kinds, heartbeat_at = now()
		WHERE runtime.members.status = 'alive'`,
		m.Cluster, m.ID, m.Host, m.Port, m.HTTPAddr, m.Kinds)
	if err != nil {
		return fmt.Errorf("postgres: join member: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: join member %s: id already used by a member that left", m.ID)
	}
	return nil
}

// HeartbeatMember refreshes the member's heartbeat and actor counts. It
// returns the member's status; vayva.MemberEvicted or vayva.MemberLeft
// means the member must stop serving (its identities have moved).
func (db *DB) HeartbeatMember(ctx context.Context, cluster, id string, counts map[string]int64) (vayva.MemberStatus, error) {
	raw, err := json.Marshal(counts)
	if err != nil {
		return "", fmt.Errorf("postgres: heartbeat: %w", err)
	}
	var status vayva.MemberStatus
	err = db.Pool().QueryRow(ctx, `
		UPDATE runtime.members
		SET heartbeat_at = CASE WHEN status IN ('alive','draining') THEN now() ELSE heartbeat_at END,
		    actor_counts = CASE WHEN status IN ('alive','draining') THEN $3::jsonb ELSE actor_counts END
		WHERE cluster = $1 AND id = $2
		RETURNING status`, cluster, id, raw).Scan(&status)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return vayva.MemberEvicted, nil
		}
		return "", fmt.Errorf("postgres: heartbeat: %w", interpretError(err))
	}
	return status, nil
}

// EvictExpiredMembers marks members whose heartbeat is older than ttl as
// evicted and returns how many it marked.
func (db *DB) EvictExpiredMembers(ctx context.Context, cluster string, ttl time.Duration) (int64, error) {
	tag, err := db.Pool().Exec(ctx, `
		UPDATE runtime.members SET status = 'evicted'
		WHERE cluster = $1 AND status IN ('alive','draining')
		  AND heartbeat_at < now() - make_interval(secs => $2)`,
		cluster, ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("postgres: evict members: %w", interpretError(err))
	}
	return tag.RowsAffected(), nil
}

// SetMemberStatus moves a member to status. Moving to draining only
// succeeds for an alive member; it returns false when no row changed.
func (db *DB) SetMemberStatus(ctx context.Context, cluster, id string, status vayva.MemberStatus) (bool, error) {
	tag, err := db.Pool().Exec(ctx, `
		UPDATE runtime.members SET status = $3
		WHERE cluster = $1 AND id = $2
		  AND (status = 'alive' OR ($3 <> 'draining' AND status = 'draining'))`,
		cluster, id, string(status))
	if err != nil {
		return false, fmt.Errorf("postgres: set member status: %w", interpretError(err))
	}
	return tag.RowsAffected() > 0, nil
}

// ListMembers returns the members of cluster. With live set, only alive and
// draining members whose heartbeat is younger than ttl; otherwise every
// member seen within the last hour, for ops.
func (db *DB) ListMembers(ctx context.Context, cluster string, live bool, ttl time.Duration) ([]vayva.ClusterMember, error) {
	q := `SELECT cluster, id, host, port, http_addr, kinds, status, actor_counts, joined_at, heartbeat_at
		FROM runtime.members WHERE cluster = $1 AND `
	if live {
		q += `status IN ('alive','draining') AND heartbeat_at >= now() - make_interval(secs => $2)`
	} else {
		q += `heartbeat_at >= now() - make_interval(secs => $2) - interval '1 hour'`
	}
	rows, err := db.Pool().Query(ctx, q+` ORDER BY joined_at, id`, cluster, ttl.Seconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: list members: %w", interpretError(err))
	}
	defer rows.Close()
	var out []vayva.ClusterMember
	for rows.Next() {
		var m vayva.ClusterMember
		var counts []byte
		if err := rows.Scan(&m.Cluster, &m.ID, &m.Host, &m.Port, &m.HTTPAddr, &m.Kinds, &m.Status, &counts, &m.JoinedAt, &m.HeartbeatAt); err != nil {
			return nil, fmt.Errorf("postgres: list members: %w", interpretError(err))
		}
		if err := json.Unmarshal(counts, &m.ActorCounts); err != nil {
			return nil, fmt.Errorf("postgres: list members: actor counts: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list members: %w", interpretError(err))
	}
	return out, nil
}
