// Package profile builds the server *tls.Config that tlsmux terminates SIP over TLS with,
// from settings named after Kamailio's tls module parameters (and OpenSIPS's ec_curve), so
// that an operator's tls.cfg knowledge carries over.
//
// Usage:
//
//	cfg, info, err := profile.Server{
//		Certificate:        "/etc/tlsmux/fullchain.pem",
//		PrivateKey:         "/etc/tlsmux/key.pem",
//		CAList:             "/etc/tlsmux/phones-ca.pem",
//		RequireCertificate: true,
//		CipherList:         "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
//	}.Build(time.Now(), nil)
//	if err != nil { ... }                  // errors.Join of *SettingError, one per problem
//	for _, w := range info.Warnings { ... } // log them
//	if info.Generated { ... }               // warn: self-signed, quote info.Fingerprint
//
// # Mapping
//
// Each Kamailio parameter, the [Server] field and flag that carry it, and what Build sets:
//
//	Kamailio (tls.cfg)    Server field        flag                  crypto/tls
//	--------------------  ------------------  --------------------  ----------------------------------------
//	certificate           Certificate         -certificate          Config.Certificates[0] (chain as in the file)
//	private_key           PrivateKey          -private-key          Certificates[0].PrivateKey ("": in certificate)
//	ca_list               CAList              -ca-list              Config.ClientCAs
//	verify_certificate    VerifyCertificate   -verify-certificate   Config.ClientAuth (below)
//	require_certificate   RequireCertificate  -require-certificate  Config.ClientAuth (below)
//	verify_depth          VerifyDepth         -verify-depth         Config.VerifyConnection (chain length check)
//	cipher_list           CipherList          -cipher-list          Config.CipherSuites (TLS 1.0–1.2 only)
//	tls_method / method   TLSMethod           -tls-method           Config.MinVersion, Config.MaxVersion
//	ec_curve (OpenSIPS)   Curves              -curves               Config.CurvePreferences
//	session_cache         SessionCache        -session-cache        !Config.SessionTicketsDisabled
//
// Client certificates, following Kamailio's tls_domain.c (set_verification), where
// require_certificate sets SSL_VERIFY_PEER|SSL_VERIFY_FAIL_IF_NO_PEER_CERT whatever
// verify_certificate says:
//
//	verify_certificate  require_certificate  Config.ClientAuth
//	------------------  -------------------  --------------------------
//	no                  no                   NoClientCert
//	yes                 no                   VerifyClientCertIfGiven
//	any                 yes                  RequireAndVerifyClientCert
//
// When a client certificate is refused, the client sees the alert crypto/tls sends: none sent
// under TLS 1.3 → certificate_required (116, RFC 8446 §4.4.2.4); none sent under TLS 1.2 →
// handshake_failure (40); not issued by a CA in ca_list → unknown_ca (48); chain longer than
// verify_depth → bad_certificate (42), wrapping [ErrVerifyDepth] on the server side.
//
// tls_method values: TLSv1.2+ (default), TLSv1.3, TLSv1.3+, TLSv1.2, TLSv1.1+, TLSv1.1,
// TLSv1+ (TLSv1.0+), TLSv1 (TLSv1.0). SSLv2, SSLv3 and SSLv23 are refused (RFC 6176,
// RFC 7568).
//
// Concurrency: [Server] and [Info] are plain values. Build may run on any goroutine; it reads
// files, so keep it off the event loop. The parsers are pure functions, safe for concurrent
// use. The returned *tls.Config may serve any number of concurrent handshakes and must not be
// modified afterwards.
//
// # Limitations
//
//   - TLS 1.3 cipher suites cannot be configured in Go: their names are accepted and
//     validated in cipher_list, and all three stay enabled.
//   - The order of cipher_list is ignored: crypto/tls picks suites by its own preference
//     (AES-GCM first when the CPU has AES instructions, ChaCha20 otherwise).
//   - Keywords DEFAULT, HIGH and ALL mean crypto/tls's secure default set; OpenSSL classes
//     never select suites crypto/tls lists as insecure (RC4, 3DES, CBC-SHA256, RSA key
//     exchange): those must be named one by one, and each draws a warning.
//   - Suites and groups OpenSSL has and crypto/tls lacks (finite-field DHE, CCM, CAMELLIA,
//     X448, brainpool, ...) cannot be used; recognised suite names are skipped with a warning.
//   - Encrypted private keys are refused (Kamailio prompts for a passphrase on the terminal).
//   - No CRL (Kamailio crl), no verify_client optional_no_ca mode, no server_name/SNI
//     domains yet: one profile per listener.
//   - As in Kamailio, client certificates are checked against ca_list only: their names
//     (CN, SANs) are not matched against anything.
//   - verify_depth 0 means "default (9)", so "no intermediates allowed" cannot be expressed;
//     the strictest setting is 1.
//   - Session resumption uses tickets whose keys crypto/tls makes per Config: every reload and
//     every process (SO_REUSEPORT) has its own, so resumption does not cross them, much like
//     Kamailio's per-process session cache.
//   - A generated self-signed certificate changes at every Build: clients that pin it must
//     pin again after a restart or reload.
package profile
