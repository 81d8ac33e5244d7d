#include "ctls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

// A socket BIO that sends with MSG_NOSIGNAL: a peer that went away is an EPIPE for the caller,
// never a SIGPIPE for the process (a client library cannot own the process's signal mask).
static int socket_write(BIO *bio, const char *data, int count) {
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t sent;
    do { sent = send(fd, data, (size_t)count, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_write(bio);
    return (int)sent;
}

static int socket_read(BIO *bio, char *data, int count) {
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t got;
    do { got = recv(fd, data, (size_t)count, 0); } while (got < 0 && errno == EINTR);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(bio);
    return (int)got;
}

static long socket_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)bio; (void)number; (void)pointer;
    return command == BIO_CTRL_FLUSH ? 1 : 0;
}

static int socket_create(BIO *bio) { BIO_set_init(bio, 1); return 1; }
static int socket_destroy(BIO *bio) { (void)bio; return 1; }   // the descriptor stays the caller's

static BIO_METHOD *shared_method;
static CRYPTO_ONCE method_once = CRYPTO_ONCE_STATIC_INIT;

static void make_method(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "doozer socket");
    if (!method) return;
    BIO_meth_set_write(method, socket_write);
    BIO_meth_set_read(method, socket_read);
    BIO_meth_set_ctrl(method, socket_ctrl);
    BIO_meth_set_create(method, socket_create);
    BIO_meth_set_destroy(method, socket_destroy);
    shared_method = method;
}

ctls_context *ctls_context_new(int is_server) {
    SSL_CTX *context = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
    if (!context) return NULL;
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Partial writes: the reactor writes what the socket takes and comes back; released
    // buffers: an idle connection holds no record buffers.
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    // Read ahead: one recv takes every record the socket holds (up to the record buffer), not a
    // header and then a body per record; what it holds beyond the record being read stays in the
    // session, where ctls_has_pending reports it.
    SSL_CTX_set_read_ahead(context, 1);
    if (is_server) {
        SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(context, 0);   // no resumption: nothing sent after the handshake
    } else {
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    }
    return context;
}

void ctls_context_free(ctls_context *context) { SSL_CTX_free(context); }

int ctls_context_use_pair(ctls_context *context, const char *certificate_file, const char *key_file) {
    if (SSL_CTX_use_certificate_chain_file(context, certificate_file) != 1) return -1;
    if (SSL_CTX_use_PrivateKey_file(context, key_file, SSL_FILETYPE_PEM) != 1) return -1;
    if (SSL_CTX_check_private_key(context) != 1) return -1;
    return 0;
}

int ctls_context_trust(ctls_context *context, const char *ca_file) {
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(context, ca_file, NULL) != 1) return -1;
    } else if (SSL_CTX_set_default_verify_paths(context) != 1) {
        return -1;
    }
    return 0;
}

int ctls_context_request_peer(ctls_context *context, const char *ca_file) {
    if (SSL_CTX_load_verify_locations(context, ca_file, NULL) != 1) return -1;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (names) SSL_CTX_set_client_CA_list(context, names);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    return 0;
}

ctls_session *ctls_session_new(ctls_context *context, int fd, const char *host) {
    CRYPTO_THREAD_run_once(&method_once, make_method);
    if (!shared_method) return NULL;
    SSL *session = SSL_new(context);
    if (!session) return NULL;
    BIO *bio = BIO_new(shared_method);
    if (!bio) { SSL_free(session); return NULL; }
    BIO_set_data(bio, (void *)(intptr_t)fd);
    SSL_set_bio(session, bio, bio);
    if (SSL_is_server(session)) {
        SSL_set_accept_state(session);
    } else {
        SSL_set_connect_state(session);
        if (host && *host) {
            unsigned char address[16];
            int is_address = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
            X509_VERIFY_PARAM *parameters = SSL_get0_param(session);
            int checked = is_address ? X509_VERIFY_PARAM_set1_ip_asc(parameters, host)
                                     : SSL_set1_host(session, host);
            if (!is_address) SSL_set_tlsext_host_name(session, host);
            if (checked != 1) { SSL_free(session); return NULL; }
        }
    }
    return session;
}

void ctls_session_free(ctls_session *session) { SSL_free(session); }

ctls_session *ctls_session_new_in_memory(ctls_context *context) {
    SSL *session = SSL_new(context);
    if (!session) return NULL;
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    if (!in || !out) {
        BIO_free(in);
        BIO_free(out);
        SSL_free(session);
        return NULL;
    }
    BIO_set_mem_eof_return(in, -1);   // nothing fed yet reads as "wait", not as the end
    SSL_set_bio(session, in, out);
    if (SSL_is_server(session)) SSL_set_accept_state(session); else SSL_set_connect_state(session);
    return session;
}

int ctls_memory_feed(ctls_session *session, const void *data, size_t size) {
    if (size == 0) return 0;
    if (size > (size_t)INT32_MAX) return -1;
    return BIO_write(SSL_get_rbio(session), data, (int)size) == (int)size ? 0 : -1;
}

size_t ctls_memory_drain(ctls_session *session, void *out, size_t capacity) {
    int limit = capacity > (size_t)INT32_MAX ? INT32_MAX : (int)capacity;
    int got = BIO_read(SSL_get_wbio(session), out, limit);
    return got > 0 ? (size_t)got : 0;
}

int ctls_context_use_pair_pem(ctls_context *context, const char *certificate, const char *key) {
    BIO *bio = BIO_new_mem_buf(certificate, -1);
    X509 *x509 = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    bio = BIO_new_mem_buf(key, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    int ok = x509 && pkey && SSL_CTX_use_certificate(context, x509) == 1 && SSL_CTX_use_PrivateKey(context, pkey) == 1
        && SSL_CTX_check_private_key(context) == 1;
    X509_free(x509);
    EVP_PKEY_free(pkey);
    return ok ? 0 : -1;
}

static int outcome(SSL *session, int result) {
    if (result > 0) return result;
    int saved = errno;
    switch (SSL_get_error(session, result)) {
    case SSL_ERROR_WANT_READ: return CTLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return CTLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return CTLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() != 0) return CTLS_FAILED;
        // An end of stream without close_notify reads as a plain end of stream.
        if (saved == 0) return CTLS_CLOSED;
        errno = saved;
        return CTLS_SYSCALL;
    default: return CTLS_FAILED;
    }
}

int ctls_handshake(ctls_session *session) {
    ERR_clear_error();
    int result = SSL_do_handshake(session);
    return result == 1 ? 0 : outcome(session, result);
}

int ctls_read(ctls_session *session, void *buffer, size_t count) {
    ERR_clear_error();
    errno = 0;
    int limit = count > (size_t)INT32_MAX ? INT32_MAX : (int)count;
    return outcome(session, SSL_read(session, buffer, limit));
}

int ctls_write(ctls_session *session, const void *buffer, size_t count) {
    if (count == 0) return 0;
    ERR_clear_error();
    errno = 0;
    int limit = count > (size_t)INT32_MAX ? INT32_MAX : (int)count;
    return outcome(session, SSL_write(session, buffer, limit));
}

int ctls_has_pending(ctls_session *session) { return SSL_has_pending(session); }

int ctls_is_handshake_done(ctls_session *session) { return SSL_is_init_finished(session); }

void ctls_shutdown(ctls_session *session) {
    ERR_clear_error();
    if (SSL_is_init_finished(session)) (void)SSL_shutdown(session);
    ERR_clear_error();
}

int ctls_peer_verified(ctls_session *session, char *name, size_t name_size) {
    X509 *peer = SSL_get0_peer_certificate(session);
    if (!peer || SSL_get_verify_result(session) != X509_V_OK) return 0;
    if (name && name_size > 0) {
        name[0] = 0;
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, (int)name_size);
    }
    return 1;
}

const char *ctls_verify_error(ctls_session *session) {
    long result = SSL_get_verify_result(session);
    return result == X509_V_OK ? NULL : X509_verify_cert_error_string(result);
}

const char *ctls_version(ctls_session *session) { return SSL_get_version(session); }

struct ctls_mac {
    EVP_MAC *algorithm;
    EVP_MAC_CTX *context;
};

ctls_mac *ctls_mac_new(const void *key, size_t key_size) {
    ctls_mac *mac = calloc(1, sizeof *mac);
    if (!mac) return NULL;
    mac->algorithm = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mac->context = mac->algorithm ? EVP_MAC_CTX_new(mac->algorithm) : NULL;
    OSSL_PARAM parameters[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!mac->context || EVP_MAC_init(mac->context, key, key_size, parameters) != 1) {
        ctls_mac_free(mac);
        return NULL;
    }
    return mac;
}

void ctls_mac_free(ctls_mac *mac) {
    if (!mac) return;
    EVP_MAC_CTX_free(mac->context);
    EVP_MAC_free(mac->algorithm);
    free(mac);
}

// A NULL key starts a new MAC under the key set in ctls_mac_new.
int ctls_mac_begin(ctls_mac *mac) { return EVP_MAC_init(mac->context, NULL, 0, NULL) == 1 ? 0 : -1; }

int ctls_mac_update(ctls_mac *mac, const void *data, size_t size) {
    return EVP_MAC_update(mac->context, data, size) == 1 ? 0 : -1;
}

int ctls_mac_final(ctls_mac *mac, unsigned char out[32]) {
    size_t written = 0;
    return EVP_MAC_final(mac->context, out, &written, 32) == 1 && written == 32 ? 0 : -1;
}

void ctls_last_error(char *text, size_t size, const char *fallback) {
    unsigned long code = ERR_get_error();
    if (code == 0) {
        snprintf(text, size, "%s", fallback);
    } else {
        const char *reason = ERR_reason_error_string(code);
        if (reason) snprintf(text, size, "%s", reason);
        else ERR_error_string_n(code, text, size);
    }
    ERR_clear_error();
}
