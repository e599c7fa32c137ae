//go:build tools

package vayva
import (
 _ "github.com/asynkron/protoactor-go/actor"
 _ "github.com/asynkron/protoactor-go/cluster"
 _ "github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
 _ "github.com/asynkron/protoactor-go/cluster/clusterproviders/consul"
 _ "github.com/asynkron/protoactor-go/remote"
 _ "google.golang.org/protobuf/proto"
 _ "github.com/jackc/pgx/v5/pgxpool"
 _ "github.com/redis/go-redis/v9"
 _ "github.com/valyala/fasthttp"
 _ "github.com/fasthttp/router"
 _ "github.com/rs/zerolog"
 _ "github.com/pressly/goose/v3"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/stretchr/testify/require"
 _ "golang.org/x/crypto/argon2"
 _ "go.uber.org/goleak"
 _ "gopkg.in/yaml.v3"
)

