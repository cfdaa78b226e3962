package profile

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Ciphers is a parsed cipher_list.
type Ciphers struct {
	// Suites goes to tls.Config.CipherSuites: the TLS 1.0–1.2 suites selected, in the order the
	// list selected them (crypto/tls ignores the order and uses its own, RFC 9325 §4.2 style
	// preference). nil means Go's defaults; empty but not nil means the list named only
	// TLS 1.3 suites, so no TLS 1.2 handshake can succeed.
	Suites []uint16
	// TLS13 holds the TLS 1.3 suites the list named. crypto/tls does not let them be
	// configured: all three are always enabled. They are validated and reported only.
	TLS13 []uint16
	// Insecure lists the members of Suites that crypto/tls ships in InsecureCipherSuites
	// (RC4, 3DES, CBC with SHA-256, RSA key exchange). They are selected only when named one
	// by one, never by a keyword such as DEFAULT or AES.
	Insecure []uint16
	// Unimplemented lists the elements, as written, that OpenSSL knows but that select no
	// suite crypto/tls implements: suites such as DHE-RSA-AES128-GCM-SHA256 or
	// TLS_AES_128_CCM_SHA256, classes such as EDH+AESGCM or EXPORT. They are skipped, so that
	// lists written for OpenSSL (Mozilla's "intermediate" profile, say) still load; Build
	// warns about each.
	Unimplemented []string
}

// ParseCipherList parses a Kamailio cipher_list and returns the value for
// tls.Config.CipherSuites (nil for "", meaning Go's defaults). See [ParseCiphers].
func ParseCipherList(s string) ([]uint16, error) {
	c, err := ParseCiphers(s)
	return c.Suites, err
}

// ParseCiphers parses a cipher list in OpenSSL's format (ciphers(1)), as Kamailio's
// cipher_list takes it. Elements are separated by ':', ',' or ' '. Each is one of:
//
//   - a suite name: OpenSSL's (ECDHE-ECDSA-AES128-GCM-SHA256, AES128-SHA) or IANA's
//     (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), for every suite crypto/tls implements;
//   - a TLS 1.3 suite (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
//     TLS_CHACHA20_POLY1305_SHA256): validated and recorded in TLS13, nothing else, since
//     crypto/tls always enables all three;
//   - DEFAULT, HIGH or ALL: every suite crypto/tls considers secure (its default set);
//   - a class: kRSA/RSA, aRSA, kECDHE/ECDHE/EECDH, aECDSA/ECDSA, AES, AES128, AES256, AESGCM,
//     CHACHA20, 3DES, RC4, SHA1/SHA, SHA256, SHA384, MEDIUM, SSLv3, TLSv1, TLSv1.2, or
//     classes joined by '+' (ECDHE+AESGCM: suites in both). A class selects only secure
//     suites: insecure ones must be named one by one;
//   - an OpenSSL suite or class that crypto/tls never offers (DHE-RSA-AES128-GCM-SHA256,
//     aNULL, eNULL, EXPORT, LOW, MD5, DHE, PSK, SRP, CAMELLIA, ...): removing it is a no-op;
//     asking for it selects nothing and is recorded in Unimplemented;
//   - prefixed with '!' (remove for good), '-' (remove; may be added again later) or '+'
//     (move to the end: a no-op, as crypto/tls orders suites itself);
//   - @STRENGTH or @SECLEVEL=n: accepted and ignored (ordering and OpenSSL security levels
//     have no crypto/tls equivalent).
//
// Matching is case-insensitive. Every unknown element is reported, each in its own error,
// joined with errors.Join.
func ParseCiphers(s string) (Ciphers, error) {
	tokens := splitList(s)
	if len(tokens) == 0 {
		return Ciphers{}, nil
	}
	var (
		c        Ciphers
		errs     []error
		banned   = map[uint16]bool{}
		selected = []uint16{} // non-nil: the list was not empty
		positive bool
	)
	for _, tok := range tokens {
		op := byte(0)
		body := tok
		if tok[0] == '!' || tok[0] == '-' || tok[0] == '+' {
			op, body = tok[0], tok[1:]
		}
		if strings.HasPrefix(body, "@") {
			if op != 0 || !validDirective(body) {
				errs = append(errs, fmt.Errorf("unknown cipher directive %q", tok))
			}
			continue
		}
		m, err := matchSelector(body)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch op {
		case '+':
			// Reordering only; crypto/tls ignores order.
		case '!', '-':
			if len(m.tls13) > 0 {
				errs = append(errs, fmt.Errorf("cannot remove %q: crypto/tls always enables the TLS 1.3 suites", body))
				continue
			}
			for _, id := range m.suites {
				selected = slices.DeleteFunc(selected, func(x uint16) bool { return x == id })
				if op == '!' {
					banned[id] = true
				}
			}
		default:
			positive = true
			switch {
			case len(m.tls13) > 0:
				for _, id := range m.tls13 {
					if !slices.Contains(c.TLS13, id) {
						c.TLS13 = append(c.TLS13, id)
					}
				}
				continue
			case m.never:
				// OpenSSL vocabulary with nothing behind it in crypto/tls: skip it, so
				// that lists written for OpenSSL load; Build warns.
				if !slices.Contains(c.Unimplemented, body) {
					c.Unimplemented = append(c.Unimplemented, body)
				}
				continue
			case !m.named && len(m.suites) > 0 && m.secure == 0:
				errs = append(errs, fmt.Errorf("%q selects only cipher suites that crypto/tls treats as insecure; name them one by one to enable them (e.g. %s)",
					body, suiteByID[m.suites[0]].name))
				continue
			}
			for _, id := range m.suites {
				if banned[id] || slices.Contains(selected, id) || (!m.named && suiteByID[id].insecure) {
					continue
				}
				selected = append(selected, id)
			}
		}
	}
	if len(errs) > 0 {
		return Ciphers{}, errors.Join(errs...)
	}
	if !positive {
		return Ciphers{}, errors.New("cipher list only removes or reorders suites: start it with DEFAULT or name the suites to use")
	}
	if len(selected) == 0 && len(c.TLS13) == 0 {
		if len(c.Unimplemented) > 0 {
			return Ciphers{}, fmt.Errorf("cipher list selects no suite that crypto/tls implements (not implemented: %s)", strings.Join(c.Unimplemented, ", "))
		}
		return Ciphers{}, errors.New("cipher list selects no cipher suite")
	}
	c.Suites = selected
	for _, id := range selected {
		if suiteByID[id].insecure {
			c.Insecure = append(c.Insecure, id)
		}
	}
	return c, nil
}

// splitList splits on OpenSSL's list separators (ciphers(1): colons, commas or spaces) and
// drops empty elements.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ':' || r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}

func validDirective(s string) bool {
	u := strings.ToUpper(s)
	if u == "@STRENGTH" {
		return true
	}
	// OpenSSL security levels run from 0 to 5.
	if lvl, ok := strings.CutPrefix(u, "@SECLEVEL="); ok {
		n, err := strconv.Atoi(lvl)
		return err == nil && n >= 0 && n <= 5 && len(lvl) == 1
	}
	return false
}

// match is what one list element (without its operator) stands for.
type match struct {
	suites []uint16 // TLS 1.0–1.2 suites it matches
	secure int      // how many of them are not insecure
	tls13  []uint16 // TLS 1.3 suites it names
	named  bool     // a single suite named explicitly
	never  bool     // OpenSSL knows it; it selects nothing crypto/tls implements
}

// matchSelector resolves a suite name, a class, or classes joined by '+'.
func matchSelector(body string) (match, error) {
	u := strings.ToUpper(body)
	if u == "" {
		return match{}, fmt.Errorf("empty cipher element")
	}
	if id, ok := suiteNames[u]; ok {
		if isTLS13(id) {
			return match{tls13: []uint16{id}, named: true}, nil
		}
		return match{suites: []uint16{id}, named: true, secure: b2i(!suiteByID[id].insecure)}, nil
	}
	if unimplementedSuites[u] {
		return match{never: true, named: true}, nil
	}
	var need tag
	never := false
	for part := range strings.SplitSeq(body, "+") {
		up := strings.ToUpper(part)
		if t, ok := classes[up]; ok {
			need |= t
			continue
		}
		if neverOffered[up] {
			never = true
			continue
		}
		if !strings.Contains(body, "+") {
			return match{}, fmt.Errorf("unknown cipher %q", body)
		}
		if _, ok := suiteNames[up]; ok {
			return match{}, fmt.Errorf("cannot join suite name %q with '+' in %q: '+' joins classes", part, body)
		}
		return match{}, fmt.Errorf("unknown cipher class %q in %q", part, body)
	}
	if never {
		return match{never: true}, nil
	}
	var m match
	for _, s := range suiteTable {
		if s.tags&need == need {
			m.suites = append(m.suites, s.id)
			m.secure += b2i(!s.insecure)
		}
	}
	if len(m.suites) == 0 {
		m.never = true
	}
	return m, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isTLS13(id uint16) bool {
	return id == tls.TLS_AES_128_GCM_SHA256 || id == tls.TLS_AES_256_GCM_SHA384 || id == tls.TLS_CHACHA20_POLY1305_SHA256
}

// tag is a set of OpenSSL cipher classes (ciphers(1), "CIPHER STRINGS").
type tag uint32

const (
	tKRSA   tag = 1 << iota // RSA key exchange
	tKECDHE                 // ephemeral ECDH key exchange
	tARSA                   // RSA authentication
	tAECDSA                 // ECDSA authentication
	tAES
	tAES128
	tAES256
	tAESGCM
	tCHACHA20
	t3DES
	tRC4
	tSHA1
	tSHA256
	tSHA384
	tMEDIUM // OpenSSL's MEDIUM: 3DES and RC4 here
	tSSLv3  // suites defined since SSL 3.0
	tTLSv1  // since TLS 1.0
	tTLSv12 // since TLS 1.2
	tSecure // not in tls.InsecureCipherSuites: what DEFAULT, HIGH and ALL select
)

// classes maps OpenSSL class names, upper-cased, to tags.
var classes = map[string]tag{
	"DEFAULT": tSecure, "HIGH": tSecure, "ALL": tSecure,
	"KRSA": tKRSA, "RSA": tKRSA, "ARSA": tARSA,
	"KECDHE": tKECDHE, "KEECDH": tKECDHE, "ECDHE": tKECDHE, "EECDH": tKECDHE,
	"AECDSA": tAECDSA, "ECDSA": tAECDSA,
	"AES": tAES, "AES128": tAES128, "AES256": tAES256, "AESGCM": tAESGCM,
	"CHACHA20": tCHACHA20, "3DES": t3DES, "RC4": tRC4,
	"SHA1": tSHA1, "SHA": tSHA1, "SHA256": tSHA256, "SHA384": tSHA384,
	"MEDIUM": tMEDIUM,
	"SSLV3":  tSSLv3, "TLSV1": tTLSv1, "TLSV1.0": tTLSv1, "TLSV1.2": tTLSv12,
}

// neverOffered are OpenSSL classes with no member in crypto/tls: removing them is a no-op.
var neverOffered = map[string]bool{}

func init() {
	for _, s := range strings.Fields(`ANULL ENULL NULL EXPORT EXP EXPORT40 EXPORT56 LOW MD5 DES
		ADH AECDH ADH AEDH KDH KDHR KDHD ADH DH DHE EDH KEDH KDHE ADSS DSS
		PSK KPSK APSK KECDHEPSK KDHEPSK KRSAPSK SRP KSRP ASRP
		CAMELLIA CAMELLIA128 CAMELLIA256 SEED IDEA RC2 ARIA ARIA128 ARIA256 ARIAGCM
		AESCCM AESCCM8 CCM CCM8 GOST94 GOST89MAC KGOST AGOST AGOST01 AGOST12 GOST2012 KGOST18
		KRB5 KKRB5 AKRB5 KECDH KECDHR KECDHE AECDH SSLV2 FZA KFZA AFZA EFZA
		SUITEB128 SUITEB128ONLY SUITEB128C2 SUITEB192 CHACHA20-POLY1305-OLD`) {
		if _, ok := classes[s]; !ok {
			neverOffered[s] = true
		}
	}
	for _, s := range strings.Fields(unimplementedList) {
		unimplementedSuites[strings.ToUpper(s)] = true
	}
	insecure := map[uint16]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.ID] = true
	}
	suiteByID = map[uint16]*suite{}
	suiteNames = map[string]uint16{}
	for i := range suiteTable {
		s := &suiteTable[i]
		s.insecure = insecure[s.id]
		if !s.insecure {
			s.tags |= tSecure
		}
		suiteByID[s.id] = s
		suiteNames[strings.ToUpper(s.name)] = s.id
		suiteNames[tls.CipherSuiteName(s.id)] = s.id
	}
	for _, cs := range tls.CipherSuites() {
		if isTLS13(cs.ID) {
			suiteNames[cs.Name] = cs.ID
		}
	}
	// crypto/tls's older constant names for the ChaCha20 suites.
	suiteNames["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"] = tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
	suiteNames["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"] = tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
}

// suite is a TLS 1.0–1.2 cipher suite crypto/tls implements.
type suite struct {
	id       uint16
	name     string // OpenSSL's name (include/openssl/tls1.h, ssl3.h: TLS1_TXT_*, SSL3_TXT_*)
	tags     tag
	insecure bool // in tls.InsecureCipherSuites; set by init
}

// suiteTable lists every TLS 1.0–1.2 suite of tls.CipherSuites and tls.InsecureCipherSuites
// (a test keeps it complete) with OpenSSL's name and classes. The minimum version follows
// OpenSSL (ssl/s3_lib.c): RSA key exchange suites date from SSL 3.0, the ECDHE ones from
// TLS 1.0 (RFC 4492), GCM, ChaCha20 and SHA-256 MACs from TLS 1.2 (RFC 5288, 5289, 7905).
var suiteTable = []suite{
	{tls.TLS_RSA_WITH_RC4_128_SHA, "RC4-SHA", tKRSA | tARSA | tRC4 | tSHA1 | tMEDIUM | tSSLv3, false},
	{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "DES-CBC3-SHA", tKRSA | tARSA | t3DES | tSHA1 | tMEDIUM | tSSLv3, false},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA", tKRSA | tARSA | tAES | tAES128 | tSHA1 | tSSLv3, false},
	{tls.TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA", tKRSA | tARSA | tAES | tAES256 | tSHA1 | tSSLv3, false},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256", tKRSA | tARSA | tAES | tAES128 | tSHA256 | tTLSv12, false},
	{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256", tKRSA | tARSA | tAES | tAES128 | tAESGCM | tTLSv12, false},
	{tls.TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384", tKRSA | tARSA | tAES | tAES256 | tAESGCM | tTLSv12, false},
	{tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, "ECDHE-ECDSA-RC4-SHA", tKECDHE | tAECDSA | tRC4 | tSHA1 | tMEDIUM | tTLSv1, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA", tKECDHE | tAECDSA | tAES | tAES128 | tSHA1 | tTLSv1, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA", tKECDHE | tAECDSA | tAES | tAES256 | tSHA1 | tTLSv1, false},
	{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, "ECDHE-RSA-RC4-SHA", tKECDHE | tARSA | tRC4 | tSHA1 | tMEDIUM | tTLSv1, false},
	{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "ECDHE-RSA-DES-CBC3-SHA", tKECDHE | tARSA | t3DES | tSHA1 | tMEDIUM | tTLSv1, false},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA", tKECDHE | tARSA | tAES | tAES128 | tSHA1 | tTLSv1, false},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA", tKECDHE | tARSA | tAES | tAES256 | tSHA1 | tTLSv1, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE-ECDSA-AES128-SHA256", tKECDHE | tAECDSA | tAES | tAES128 | tSHA256 | tTLSv12, false},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256", tKECDHE | tARSA | tAES | tAES128 | tSHA256 | tTLSv12, false},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256", tKECDHE | tARSA | tAES | tAES128 | tAESGCM | tTLSv12, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", tKECDHE | tAECDSA | tAES | tAES128 | tAESGCM | tTLSv12, false},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", tKECDHE | tARSA | tAES | tAES256 | tAESGCM | tTLSv12, false},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", tKECDHE | tAECDSA | tAES | tAES256 | tAESGCM | tTLSv12, false},
	{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305", tKECDHE | tARSA | tCHACHA20 | tTLSv12, false},
	{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", tKECDHE | tAECDSA | tCHACHA20 | tTLSv12, false},
}

var (
	suiteByID           map[uint16]*suite
	suiteNames          map[string]uint16 // upper-case OpenSSL, IANA and TLS 1.3 names → id
	unimplementedSuites = map[string]bool{}
)

// unimplementedList holds OpenSSL suite names (from `openssl ciphers -v ALL`, OpenSSL 1.1 and
// 3.x, plus common legacy ones) that crypto/tls does not implement. Lists written for OpenSSL
// name them; they are skipped with a warning instead of failing the whole list.
const unimplementedList = `
DHE-RSA-AES128-GCM-SHA256 DHE-RSA-AES256-GCM-SHA384 DHE-RSA-CHACHA20-POLY1305
DHE-DSS-AES128-GCM-SHA256 DHE-DSS-AES256-GCM-SHA384
DHE-RSA-AES128-SHA256 DHE-RSA-AES256-SHA256 DHE-DSS-AES128-SHA256 DHE-DSS-AES256-SHA256
DHE-RSA-AES128-SHA DHE-RSA-AES256-SHA DHE-DSS-AES128-SHA DHE-DSS-AES256-SHA
DHE-RSA-AES128-CCM DHE-RSA-AES256-CCM DHE-RSA-AES128-CCM8 DHE-RSA-AES256-CCM8
DHE-RSA-CAMELLIA128-SHA DHE-RSA-CAMELLIA256-SHA DHE-DSS-CAMELLIA128-SHA DHE-DSS-CAMELLIA256-SHA
DHE-RSA-CAMELLIA128-SHA256 DHE-RSA-CAMELLIA256-SHA256 DHE-DSS-CAMELLIA128-SHA256 DHE-DSS-CAMELLIA256-SHA256
DHE-RSA-SEED-SHA DHE-DSS-SEED-SHA DHE-RSA-ARIA128-GCM-SHA256 DHE-RSA-ARIA256-GCM-SHA384
DHE-DSS-ARIA128-GCM-SHA256 DHE-DSS-ARIA256-GCM-SHA384
EDH-RSA-DES-CBC3-SHA EDH-DSS-DES-CBC3-SHA EDH-RSA-DES-CBC-SHA EDH-DSS-DES-CBC-SHA
ECDHE-ECDSA-AES256-SHA384 ECDHE-RSA-AES256-SHA384
ECDHE-ECDSA-AES128-CCM ECDHE-ECDSA-AES256-CCM ECDHE-ECDSA-AES128-CCM8 ECDHE-ECDSA-AES256-CCM8
ECDHE-ECDSA-ARIA128-GCM-SHA256 ECDHE-ECDSA-ARIA256-GCM-SHA384 ECDHE-ARIA128-GCM-SHA256 ECDHE-ARIA256-GCM-SHA384
ECDHE-ECDSA-CAMELLIA128-SHA256 ECDHE-ECDSA-CAMELLIA256-SHA384 ECDHE-RSA-CAMELLIA128-SHA256 ECDHE-RSA-CAMELLIA256-SHA384
ECDHE-ECDSA-DES-CBC3-SHA ECDHE-ECDSA-NULL-SHA ECDHE-RSA-NULL-SHA
AES256-SHA256 AES128-CCM AES256-CCM AES128-CCM8 AES256-CCM8
ARIA128-GCM-SHA256 ARIA256-GCM-SHA384
CAMELLIA128-SHA CAMELLIA256-SHA CAMELLIA128-SHA256 CAMELLIA256-SHA256
SEED-SHA IDEA-CBC-SHA RC4-MD5 DES-CBC-SHA NULL-SHA NULL-MD5 NULL-SHA256
EXP-RC4-MD5 EXP-RC2-CBC-MD5 EXP-DES-CBC-SHA EXP-EDH-RSA-DES-CBC-SHA EXP-EDH-DSS-DES-CBC-SHA
ADH-AES128-GCM-SHA256 ADH-AES256-GCM-SHA384 ADH-AES128-SHA256 ADH-AES256-SHA256
ADH-AES128-SHA ADH-AES256-SHA ADH-CAMELLIA128-SHA ADH-CAMELLIA256-SHA ADH-SEED-SHA ADH-DES-CBC3-SHA ADH-RC4-MD5
AECDH-AES128-SHA AECDH-AES256-SHA AECDH-DES-CBC3-SHA AECDH-RC4-SHA AECDH-NULL-SHA
TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256
`
