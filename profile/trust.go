package profile

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits of what a profile reads, so that a wrong path (a CRL directory pointed at /, a
// multi-gigabyte file) fails with an error instead of exhausting memory.
const (
	maxFileSize   = 16 << 20 // bytes in one certificate, key, CA or CRL file
	maxDirEntries = 4096     // files read from one ca_dir or crl_dir
	// hashFileLimit: files up to this size are fingerprinted by content as well as by
	// metadata, because inode timestamps are coarse (a rewrite within the same tick keeps the
	// mtime). Certificates, keys and CA lists are far below it; large CRLs rely on metadata.
	hashFileLimit = 64 << 10
)

// fileFP is what the watcher compares to notice that a file changed.
type fileFP struct {
	exists bool
	dir    bool
	size   int64
	mtime  int64 // ns
	ino    uint64
	dev    uint64
	sum    [32]byte // content hash, regular files up to hashFileLimit only
}

// fileReader reads the files a load names, bounded, and records each one's fingerprint and
// content hash: the union is what changed (Change), and what Watch polls.
type fileReader struct {
	fps   map[string]fileFP
	sums  map[string][32]byte // content hash of every file read, whatever its size
	order []string
}

func newFileReader() *fileReader {
	return &fileReader{fps: map[string]fileFP{}, sums: map[string][32]byte{}}
}

func (fr *fileReader) record(path string, fp fileFP) {
	if _, ok := fr.fps[path]; !ok {
		fr.order = append(fr.order, path)
	}
	fr.fps[path] = fp
}

// statFP fingerprints path (following symlinks, as certbot's live/ directory needs).
func statFP(path string) fileFP {
	fi, err := os.Stat(path)
	if err != nil {
		return fileFP{}
	}
	fp := fileFP{exists: true, dir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fp.ino, fp.dev = uint64(st.Ino), uint64(st.Dev)
	}
	if !fp.dir && fi.Mode().IsRegular() && fi.Size() <= hashFileLimit {
		if data, err := os.ReadFile(path); err == nil && len(data) <= hashFileLimit {
			fp.sum = sha256.Sum256(data)
		}
	}
	return fp
}

// read returns the contents of path, at most maxFileSize bytes, and records it.
func (fr *fileReader) read(path string) ([]byte, error) {
	fp := statFP(path)
	defer func() { fr.record(path, fp) }()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	sum := sha256.Sum256(data)
	fr.sums[path] = sum
	if len(data) <= hashFileLimit {
		fp.sum = sum
	}
	return data, nil
}

// readDir lists the regular files of dir (symlinks followed, names starting with '.' skipped,
// as OpenSSL's c_rehash does), sorted, at most maxDirEntries, and records the directory.
func (fr *fileReader) readDir(dir string) ([]string, error) {
	fr.record(dir, statFP(dir))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue // a dangling symlink or a subdirectory
		}
		if len(files) == maxDirEntries {
			return nil, fmt.Errorf("%s holds more than %d files", dir, maxDirEntries)
		}
		files = append(files, p)
	}
	return files, nil
}

// digest hashes the contents of every file read, in order.
func (fr *fileReader) digest() [32]byte {
	h := sha256.New()
	for _, p := range fr.order {
		sum := fr.sums[p]
		fp := fr.fps[p]
		fmt.Fprintf(h, "%s\x00%v\x00", p, fp.exists)
		h.Write(sum[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// loadCAs reads ca_list (a PEM file) and every file of ca_dir (all PEM files; OpenSSL's hashed
// names such as a1b2c3d4.0 are ordinary files to it) into one pool.
func loadCAs(list, dir string, fr *fileReader) (*x509.CertPool, []*x509.Certificate, []keyErr) {
	pool := x509.NewCertPool()
	var (
		cas  []*x509.Certificate
		errs []keyErr
	)
	add := func(key, file string, data []byte, required bool) int {
		pc := scanPEM(data)
		if len(pc.certs) == 0 && required {
			errs = append(errs, keyErr{key, fmt.Errorf("no CERTIFICATE PEM block in %s", file)})
		}
		for i, b := range pc.certs {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				errs = append(errs, keyErr{key, fmt.Errorf("%s: certificate %d: %w", file, i+1, err)})
				continue
			}
			pool.AddCert(c)
			cas = append(cas, c)
		}
		return len(pc.certs)
	}
	if list != "" {
		if data, err := fr.read(list); err != nil {
			errs = append(errs, keyErr{"ca_list", err})
		} else {
			add("ca_list", list, data, true)
		}
	}
	if dir != "" {
		files, err := fr.readDir(dir)
		if err != nil {
			errs = append(errs, keyErr{"ca_dir", err})
		}
		n := 0
		for _, f := range files {
			data, err := fr.read(f)
			if err != nil {
				errs = append(errs, keyErr{"ca_dir", err})
				continue
			}
			n += add("ca_dir", f, data, false) // a hashed directory also holds CRLs (.r0)
		}
		if err == nil && n == 0 {
			errs = append(errs, keyErr{"ca_dir", fmt.Errorf("no CERTIFICATE PEM block in any file of %s", dir)})
		}
	}
	return pool, cas, errs
}

// crlEntry is one loaded CRL.
type crlEntry struct {
	file    string
	list    *x509.RevocationList
	serials []*big.Int          // revoked serial numbers, sorted
	signers []*x509.Certificate // CAs (ca_list, ca_dir) the signature was checked against at load
	// proven is the last issuer certificate, not among signers (an intermediate the peer
	// sends), the signature was checked against at a handshake: one slot, so verifying a
	// CRL costs one signature check per issuer change instead of one per handshake.
	proven atomic.Pointer[x509.Certificate]
}

// signedBy reports whether issuer signed the CRL.
func (e *crlEntry) signedBy(issuer *x509.Certificate) bool {
	for _, s := range e.signers {
		if s.Equal(issuer) {
			return true
		}
	}
	if p := e.proven.Load(); p != nil && p.Equal(issuer) {
		return true
	}
	if e.list.CheckSignatureFrom(issuer) == nil {
		e.proven.Store(issuer)
		return true
	}
	return false
}

func (e *crlEntry) revokes(serial *big.Int) bool {
	i := sort.Search(len(e.serials), func(i int) bool { return e.serials[i].Cmp(serial) >= 0 })
	return i < len(e.serials) && e.serials[i].Cmp(serial) == 0
}

// crlSet holds a profile's CRLs by issuer name. It is read-only once loaded, except for each
// entry's proven slot (atomic).
type crlSet struct {
	byIssuer map[string][]*crlEntry // string(RawIssuer)
	count    int
}

// check looks cert up in the CRLs its issuer signed. As OpenSSL with X509_V_FLAG_CRL_CHECK |
// X509_V_FLAG_CRL_CHECK_ALL, which Kamailio sets when crl is configured (tls_domain.c
// load_crl), a certificate whose issuer has no current CRL fails: revocation cannot be ruled
// out. A revoked certificate fails even when its CRL has expired.
func (cs *crlSet) check(cert, issuer *x509.Certificate, now time.Time) error {
	var usable, expired, early bool
	var expiredOn time.Time
	var expiredFile string
	for _, e := range cs.byIssuer[string(cert.RawIssuer)] {
		if !e.signedBy(issuer) {
			continue
		}
		if e.revokes(cert.SerialNumber) {
			return fmt.Errorf("%w: serial %s (%s) is listed in %s%.0w", ErrCertificateRevoked,
				serialHex(cert.SerialNumber), cert.Subject, e.file, alertCertificateRevoked)
		}
		switch {
		case now.Before(e.list.ThisUpdate):
			early = true
		case !e.list.NextUpdate.IsZero() && now.After(e.list.NextUpdate):
			expired, expiredOn, expiredFile = true, e.list.NextUpdate, e.file
		default:
			usable = true
		}
	}
	switch {
	case usable:
		return nil
	case expired:
		return fmt.Errorf("%w: the CRL of %s in %s expired on %s (next update): revocation of %s cannot be checked",
			ErrCRLExpired, issuer.Subject, expiredFile, expiredOn.UTC().Format(time.RFC3339), cert.Subject)
	case early:
		return fmt.Errorf("%w: the CRL of %s is not valid yet (this update is in the future)", ErrCRLUnavailable, issuer.Subject)
	}
	return fmt.Errorf("%w: none from %s, issuer of %s", ErrCRLUnavailable, issuer.Subject, cert.Subject)
}

func serialHex(n *big.Int) string { return strings.ToUpper(n.Text(16)) }

// loadCRLs reads crl (a file of PEM "X509 CRL" blocks, or one DER CRL) and every file of
// crl_dir, checks each CRL's signature against the CAs of ca_list/ca_dir that share its issuer
// name, and warns about expired lists and CAs without one.
func loadCRLs(file, dir string, cas []*x509.Certificate, all bool, fr *fileReader, now time.Time) (*crlSet, []keyErr, []keyErr) {
	set := &crlSet{byIssuer: map[string][]*crlEntry{}}
	var errs, warns []keyErr
	add := func(key, path string, data []byte, required bool) int {
		ders, perr := crlBlocks(data)
		if perr != nil && required {
			errs = append(errs, keyErr{key, fmt.Errorf("%s: %v", path, perr)})
			return 0
		}
		for i, der := range ders {
			list, err := x509.ParseRevocationList(der)
			if err != nil {
				errs = append(errs, keyErr{key, fmt.Errorf("%s: CRL %d: %w", path, i+1, err)})
				continue
			}
			if err := checkCRLExtensions(list); err != nil {
				errs = append(errs, keyErr{key, fmt.Errorf("%s: CRL %d: %w", path, i+1, err)})
				continue
			}
			e := &crlEntry{file: path, list: list}
			for _, rc := range list.RevokedCertificateEntries {
				e.serials = append(e.serials, rc.SerialNumber)
			}
			slices.SortFunc(e.serials, func(a, b *big.Int) int { return a.Cmp(b) })
			named, badSig := false, false
			for _, ca := range cas {
				if string(ca.RawSubject) != string(list.RawIssuer) {
					continue
				}
				named = true
				if list.CheckSignatureFrom(ca) == nil {
					e.signers = append(e.signers, ca)
				} else {
					badSig = true
				}
			}
			issuer := issuerName(list)
			switch {
			case named && len(e.signers) == 0 && badSig:
				errs = append(errs, keyErr{key, fmt.Errorf("%s: CRL %d of %s: its signature does not verify against the CA of that name in ca_list/ca_dir", path, i+1, issuer)})
				continue
			case !named:
				warns = append(warns, keyErr{key, fmt.Errorf("%s: the issuer of CRL %d, %s, is not in ca_list/ca_dir: its signature is checked against the intermediate CA peers send", path, i+1, issuer)})
			}
			if !list.NextUpdate.IsZero() && now.After(list.NextUpdate) {
				warns = append(warns, keyErr{key, fmt.Errorf("%s: CRL %d of %s expired on %s: certificates it covers are refused until a current CRL is loaded (as OpenSSL does)",
					path, i+1, issuer, list.NextUpdate.UTC().Format(time.RFC3339))})
			}
			if now.Before(list.ThisUpdate) {
				warns = append(warns, keyErr{key, fmt.Errorf("%s: CRL %d of %s is not valid before %s", path, i+1, issuer, list.ThisUpdate.UTC().Format(time.RFC3339))})
			}
			set.byIssuer[string(list.RawIssuer)] = append(set.byIssuer[string(list.RawIssuer)], e)
			set.count++
		}
		return len(ders)
	}
	if file != "" {
		if data, err := fr.read(file); err != nil {
			errs = append(errs, keyErr{"crl", err})
		} else {
			add("crl", file, data, true)
		}
	}
	if dir != "" {
		files, err := fr.readDir(dir)
		if err != nil {
			errs = append(errs, keyErr{"crl_dir", err})
		}
		n := 0
		for _, f := range files {
			data, err := fr.read(f)
			if err != nil {
				errs = append(errs, keyErr{"crl_dir", err})
				continue
			}
			n += add("crl_dir", f, data, false) // a hashed directory also holds certificates (.0)
		}
		if err == nil && n == 0 {
			errs = append(errs, keyErr{"crl_dir", fmt.Errorf("no X509 CRL in any file of %s", dir)})
		}
	}
	// OpenSSL's CRL_CHECK_ALL needs a CRL from every issuer on the chain: warn about CAs whose
	// certificates (leaves or intermediates) would all be refused for want of one.
	if set.count > 0 && all {
		key := "crl"
		if file == "" {
			key = "crl_dir"
		}
		for _, ca := range cas {
			if len(set.byIssuer[string(ca.RawSubject)]) == 0 {
				warns = append(warns, keyErr{key, fmt.Errorf("no CRL from %s (ca_list/ca_dir): every certificate it issued, intermediate CAs included, is refused (Kamailio's CRL_CHECK_ALL)", ca.Subject)})
			}
		}
	}
	return set, errs, warns
}

func issuerName(list *x509.RevocationList) string { return list.Issuer.String() }

// crlBlocks returns the DER of every "X509 CRL" PEM block in data, or data itself when it holds
// no PEM at all (a DER CRL). Other PEM blocks (certificates in a hashed directory) are skipped.
func crlBlocks(data []byte) ([][]byte, error) {
	var ders [][]byte
	rest, sawPEM := data, false
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		sawPEM = true
		if b.Type == "X509 CRL" {
			ders = append(ders, b.Bytes)
		}
	}
	switch {
	case len(ders) > 0:
		return ders, nil
	case sawPEM:
		return nil, errors.New("no X509 CRL PEM block")
	case len(data) > 0 && data[0] == 0x30: // an ASN.1 SEQUENCE: try DER
		return [][]byte{data}, nil
	}
	return nil, errors.New("neither an X509 CRL PEM block nor a DER CRL")
}

// OIDs of CRL extensions RFC 5280 §5.2 defines that change what a CRL covers.
var (
	oidDeltaCRLIndicator     = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistribution   = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidAuthorityKeyID        = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber             = asn1.ObjectIdentifier{2, 5, 29, 20}
	supportedCriticalCRLExts = []asn1.ObjectIdentifier{oidAuthorityKeyID, oidCRLNumber}
)

// checkCRLExtensions refuses CRLs tlsmux cannot apply correctly: delta CRLs and CRLs scoped by
// an issuing distribution point, and any unknown critical extension (RFC 5280 §5.2: a CRL
// with an unrecognised critical extension must not be used to decide revocation).
func checkCRLExtensions(list *x509.RevocationList) error {
	for _, ext := range list.Extensions {
		switch {
		case ext.Id.Equal(oidDeltaCRLIndicator):
			return errors.New("delta CRLs are not supported: give the complete CRL")
		case ext.Id.Equal(oidIssuingDistribution):
			return errors.New("CRLs scoped by an issuing distribution point are not supported")
		case ext.Critical && !slices.ContainsFunc(supportedCriticalCRLExts, func(o asn1.ObjectIdentifier) bool { return ext.Id.Equal(o) }):
			return fmt.Errorf("unsupported critical extension %v", ext.Id)
		}
	}
	return nil
}
