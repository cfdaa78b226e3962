// Package deptest holds the test that enforces the import rules of ARCHITECTURE.md §2. It has no
// code of its own.
package deptest
