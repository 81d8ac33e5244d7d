// Thin wrappers over OpenSSL 3 for DoozerTLS: the calls Swift cannot import as they are
// (macros over SSL_ctrl), and the error queue turned into one line of text. No policy lives
// here beyond what every context gets: TLS 1.2 and 1.3 only, no renegotiation, no compression.
#ifndef CTLS_H
#define CTLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_ctx_st ctls_context;
typedef struct ssl_st ctls_session;

/// Outcomes of ctls_handshake/ctls_read/ctls_write below zero; at or above zero, a byte count.
enum {
    CTLS_WANT_READ = -1,
    CTLS_WANT_WRITE = -2,
    /// The peer closed the TLS session cleanly (close_notify).
    CTLS_CLOSED = -3,
    /// A protocol or verification error: ctls_last_error has the text.
    CTLS_FAILED = -4,
    /// A socket error: errno has it.
    CTLS_SYSCALL = -5,
};

/// A context for servers (is_server != 0) or clients. NULL on failure (ctls_last_error).
ctls_context *ctls_context_new(int is_server);
void ctls_context_free(ctls_context *context);
/// Loads a PEM certificate chain and its private key and checks that they match. 0 on success.
int ctls_context_use_pair(ctls_context *context, const char *certificate_file, const char *key_file);
/// A client's trust: the PEM certificates in `ca_file`, or the system's when it is NULL (the
/// server is always verified: see ctls_context_new). 0 on success.
int ctls_context_trust(ctls_context *context, const char *ca_file);
/// Servers asking for client certificates without requiring them: verified when sent.
int ctls_context_request_peer(ctls_context *context, const char *ca_file);

/// A session over connected socket `fd`, in server or client mode as its context is.
/// `host` (clients only, may be NULL) is checked against the server's certificate and sent as SNI.
ctls_session *ctls_session_new(ctls_context *context, int fd, const char *host);
void ctls_session_free(ctls_session *session);
/// A session whose records go through memory, not a socket (the fuzz target): `ctls_memory_feed`
/// hands it bytes as if they had arrived, `ctls_memory_drain` takes what it would have sent.
ctls_session *ctls_session_new_in_memory(ctls_context *context);
int ctls_memory_feed(ctls_session *session, const void *data, size_t size);
size_t ctls_memory_drain(ctls_session *session, void *out, size_t capacity);
/// Loads a PEM certificate and its key from memory (the fuzz target's fixture). 0 on success.
int ctls_context_use_pair_pem(ctls_context *context, const char *certificate, const char *key);
int ctls_handshake(ctls_session *session);
int ctls_read(ctls_session *session, void *buffer, size_t count);
int ctls_write(ctls_session *session, const void *buffer, size_t count);
/// Whether the session holds input (records read ahead from the socket, or decrypted bytes)
/// that epoll cannot report: 1 if so.
int ctls_has_pending(ctls_session *session);
int ctls_is_handshake_done(ctls_session *session);
/// Sends close_notify once, without waiting for the peer's.
void ctls_shutdown(ctls_session *session);
/// Whether the peer presented a certificate that verified; the subject's CN into `name` if so.
int ctls_peer_verified(ctls_session *session, char *name, size_t name_size);
/// Why the peer's certificate did not verify ("certificate has expired"), or NULL if it did.
const char *ctls_verify_error(ctls_session *session);
/// "TLSv1.3" and the like.
const char *ctls_version(ctls_session *session);

/// HMAC-SHA256 under one key, set once: the peer transport's MAC.
typedef struct ctls_mac ctls_mac;
ctls_mac *ctls_mac_new(const void *key, size_t key_size);
void ctls_mac_free(ctls_mac *mac);
/// One MAC: begin, update with each piece in order, final writes the 32 bytes; 0 on success.
int ctls_mac_begin(ctls_mac *mac);
int ctls_mac_update(ctls_mac *mac, const void *data, size_t size);
int ctls_mac_final(ctls_mac *mac, unsigned char out[32]);

/// The oldest queued OpenSSL error as one line, or `fallback`; clears the queue.
void ctls_last_error(char *text, size_t size, const char *fallback);

#endif
