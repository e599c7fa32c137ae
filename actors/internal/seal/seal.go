// Package seal holds the token that seals actors.Change: only packages
// under actors/ can name it, so only they can declare change types.
package seal

// Token is the argument of the method that marks a type as an actor change.
// It carries nothing; its only job is to be unnameable outside actors/.
type Token struct{}
