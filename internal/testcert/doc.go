// Package testcert makes X.509 certificates for tests: an in-memory ECDSA P-256 root CA,
// intermediate CAs below it, and server and client leaves, as [tls.Certificate] values or as
// PEM files.
//
// Every [PKI] is independent: nothing is cached globally, so a second [New] is an "untrusted"
// CA for negative tests. ECDSA P-256 keeps creation cheap (about 0.2 ms per certificate on
// the 2-core reference VM, BenchmarkServer), so tests make their own PKI instead of sharing
// fixtures.
//
// Usage:
//
//	pki := testcert.MustNew()
//	srv, err := pki.Server("sip.example.net")   // SANs: sip.example.net, localhost, 127.0.0.1, ::1
//	cli, err := pki.Client("alice")             // CN=alice, ExtKeyUsageClientAuth
//	inter, err := pki.Intermediate("issuing")   // leaves from inter carry the intermediate in their chain
//	certFile, keyFile, err := pki.WriteServerFiles(t.TempDir(), "sip.example.net")
//	clientCfg := &tls.Config{RootCAs: pki.Pool(), Certificates: []tls.Certificate{cli}}
//	crlFile, err := pki.WriteCRLFile(dir, testcert.CRLOptions{Revoked: []tls.Certificate{cli}})
//	phone, err := testcert.SelfSigned("phone", false, true) // issued by no CA
//
// Validity: certificates are valid from 1999-12-31 (so that tests running inside a
// testing/synctest bubble, whose clock starts at 2000-01-01 UTC, verify them) until ten years
// after creation, unless [LeafOptions] says otherwise.
//
// Concurrency: a *PKI may be used from several goroutines at once; its methods only read the
// CA and draw serial numbers from crypto/rand.
//
// # Limitations
//
// Test use only: keys are not protected, revocation is by CRL only (no OCSP, no delta or
// indirect CRLs), and the root's private key lives in memory for the life of the PKI. Only
// ECDSA P-256 keys are generated; [LeafOptions.Key] accepts another key (RSA, Ed25519) made
// by the caller.
package testcert
