package node

// Observe makes n report each part's name to f as Stop ("stop") or Kill
// ("kill") takes it down. Call it before Stop or Kill.
func Observe(n *Node, f func(how, name string)) { n.observe = f }
