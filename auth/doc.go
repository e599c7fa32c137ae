// Package auth is accounts, credentials and teams: sign-up and sign-in,
// sessions and API keys, email verification and invitations, the store's
// team, and the bearer-token authenticator the HTTP edge calls on every
// merchant request.
//
// Auth and merchant records are plain repositories (Repository, implemented
// in persistence/postgres), not actors: they are written rarely, read on
// every request, and their invariants (one email per user, one slug per
// store, one owner per store) are unique constraints.
//
// # Secrets
//
// Session tokens (vst_…), API keys (vsk_…), email verification tokens
// (vvt_…) and invitation tokens (vin_…) carry 256 random bits
// (vayva.NewSecret). Only their SHA-256 is stored, so a copy of the database
// lets nobody act as a merchant. Passwords are hashed with argon2id (see the
// Default* constants for the parameters and why) and stored as PHC strings;
// Hasher bounds how many hashes run at once. Single-use tokens are checked
// before any password is hashed, so a bad token costs no argon2 work.
//
// # Invitations
//
// Adding someone to a team is an invitation: a pending record of the
// address and role, and an email with a link. Nothing about accounts is
// consulted, so the inviter learns nothing about whether the address has
// one. The invitee joins by accepting: signed in as a user whose verified
// email is the invited address, or with that account's password, or by
// signing up through the invitation (the emailed token proves the address,
// so the new user starts verified and opens no business of their own).
//
// # Tenancy
//
// The tenant of a request (user, merchant, store, role, credential) comes
// only from its bearer token: a session is bound to one store when it is
// created, an API key to the store it was created in, and the role is the
// user's current role in that store's team. A credential stops working when
// it is revoked, when it expires, or when its user leaves the team.
//
// # Revocation and the token cache
//
// Service caches resolved tokens in process (tokenCache). Revocations are
// committed to the database first, then published through Revocations with
// a cluster-wide generation number; a node serves a token from its cache
// only while it has applied every revocation up to the current generation,
// so a logout, key deletion or member removal answered by one node takes
// effect on the next request on every node.
//
// # Rate limits
//
// Sign-in attempts are limited per email and per client address in shared
// fixed windows (RateLimiter, implemented in Redis); a successful sign-in
// gives its attempt back. Unknown emails and wrong passwords fail alike,
// after the same hashing work. Sign-ups are limited per client address and
// invitations per store.
package auth
