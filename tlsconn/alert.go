package tlsconn

import (
	"strconv"

	"github.com/tlsmux/tlsmux/internal/record"
)

// Alert is a TLS alert description, the wire code of RFC 8446 §6 (and RFC 5246 §7.2 for the codes
// TLS 1.3 dropped). The constants are named after the RFC identifiers; String returns those.
type Alert uint8

// Alert descriptions (RFC 8446 §6, IANA "TLS Alerts" registry).
const (
	CloseNotify                  Alert = 0
	UnexpectedMessage            Alert = 10
	BadRecordMAC                 Alert = 20
	RecordOverflow               Alert = 22
	HandshakeFailure             Alert = 40
	BadCertificate               Alert = 42
	UnsupportedCertificate       Alert = 43
	CertificateRevoked           Alert = 44
	CertificateExpired           Alert = 45
	CertificateUnknown           Alert = 46
	IllegalParameter             Alert = 47
	UnknownCA                    Alert = 48
	AccessDenied                 Alert = 49
	DecodeError                  Alert = 50
	DecryptError                 Alert = 51
	ProtocolVersion              Alert = 70
	InsufficientSecurity         Alert = 71
	InternalError                Alert = 80
	InappropriateFallback        Alert = 86
	UserCanceled                 Alert = 90
	NoRenegotiation              Alert = 100
	MissingExtension             Alert = 109
	UnsupportedExtension         Alert = 110
	UnrecognizedName             Alert = 112
	BadCertificateStatusResponse Alert = 113
	UnknownPSKIdentity           Alert = 115
	CertificateRequired          Alert = 116
	NoApplicationProtocol        Alert = 120
	ECHRequired                  Alert = 121
)

var alertNames = map[Alert]string{
	CloseNotify:                  "close_notify",
	UnexpectedMessage:            "unexpected_message",
	BadRecordMAC:                 "bad_record_mac",
	RecordOverflow:               "record_overflow",
	HandshakeFailure:             "handshake_failure",
	BadCertificate:               "bad_certificate",
	UnsupportedCertificate:       "unsupported_certificate",
	CertificateRevoked:           "certificate_revoked",
	CertificateExpired:           "certificate_expired",
	CertificateUnknown:           "certificate_unknown",
	IllegalParameter:             "illegal_parameter",
	UnknownCA:                    "unknown_ca",
	AccessDenied:                 "access_denied",
	DecodeError:                  "decode_error",
	DecryptError:                 "decrypt_error",
	ProtocolVersion:              "protocol_version",
	InsufficientSecurity:         "insufficient_security",
	InternalError:                "internal_error",
	InappropriateFallback:        "inappropriate_fallback",
	UserCanceled:                 "user_canceled",
	NoRenegotiation:              "no_renegotiation",
	MissingExtension:             "missing_extension",
	UnsupportedExtension:         "unsupported_extension",
	UnrecognizedName:             "unrecognized_name",
	BadCertificateStatusResponse: "bad_certificate_status_response",
	UnknownPSKIdentity:           "unknown_psk_identity",
	CertificateRequired:          "certificate_required",
	NoApplicationProtocol:        "no_application_protocol",
	ECHRequired:                  "ech_required",
}

// String returns the RFC identifier, e.g. "handshake_failure", or "alert(N)" for an unassigned code.
func (a Alert) String() string {
	if s, ok := alertNames[a]; ok {
		return s
	}
	return "alert(" + strconv.Itoa(int(a)) + ")"
}

// Alert levels (RFC 5246 §7.2). TLS 1.3 ignores the level but still sends one (RFC 8446 §6).
const (
	alertLevelWarning = 1
	alertLevelFatal   = 2
)

// level is the level a sender uses for a: warning for close_notify and user_canceled, which do not
// end the connection on their own (RFC 8446 §6.1), fatal for the rest (RFC 8446 §6.2).
func (a Alert) level() byte {
	if a == CloseNotify || a == UserCanceled || a == NoRenegotiation {
		return alertLevelWarning
	}
	return alertLevelFatal
}

// alertRecordVersion is the legacy_record_version of the plaintext alerts we send before any version
// is negotiated. 0x0301 (TLS 1.0) is what crypto/tls uses before negotiation, and RFC 8446 §5.1
// allows it for records sent before the ServerHello; every TLS client accepts it.
const alertRecordVersion = 0x0301

// appendAlertRecord appends a plaintext alert record (RFC 8446 §6, RFC 5246 §7.2) to dst.
func appendAlertRecord(dst []byte, a Alert) []byte {
	dst = record.AppendHeader(dst, record.Alert, alertRecordVersion, 2)
	return append(dst, a.level(), byte(a))
}

// plaintextAlert finds a plaintext alert record in p, a sequence of whole records written by
// crypto/tls, and returns its description. Protected alerts (TLS 1.3 hides them in application_data
// records, TLS 1.2 encrypts them after ChangeCipherSpec) are longer than 2 bytes and not reported.
func plaintextAlert(p []byte) (Alert, bool) {
	for {
		typ, _, n, ok := record.ParseHeader(p)
		if !ok || len(p) < record.HeaderLen+n {
			return 0, false
		}
		if typ == record.Alert && n == 2 {
			return Alert(p[record.HeaderLen+1]), true
		}
		p = p[record.HeaderLen+n:]
	}
}
