/*
 * devsys_init()/devsys_shutdown(), the version, and the allocator hook:
 * the library's only process-wide mutable state.
 */
#include "core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_count; /* guarded by init_lock; read atomically elsewhere */

static void *default_malloc(size_t size, void *payload) { (void)payload; return malloc(size); }
static void *default_realloc(void *ptr, size_t size, void *payload) { (void)payload; return realloc(ptr, size); }
static void default_free(void *ptr, void *payload) { (void)payload; free(ptr); }

static devsys_allocator allocator = { DEVSYS_ALLOCATOR_VERSION, default_malloc, default_realloc, default_free, NULL };

int devsys_init(void)
{
	int rc;
	pthread_mutex_lock(&init_lock);
	if (init_count == 0 && (rc = devsys__modules_init()) < 0) {
		pthread_mutex_unlock(&init_lock);
		return rc;
	}
	rc = ++init_count;
	__atomic_store_n(&init_count, rc, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&init_lock);
	return rc;
}

int devsys_shutdown(void)
{
	int rc;
	pthread_mutex_lock(&init_lock);
	if (init_count == 0) {
		pthread_mutex_unlock(&init_lock);
		return devsys__error_set(DEVSYS_ENOTINIT,
		                         "devsys_shutdown: the library is not initialised (more shutdowns than inits)");
	}
	rc = init_count - 1;
	if (rc == 0)
		devsys__modules_shutdown();
	__atomic_store_n(&init_count, rc, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&init_lock);
	return rc;
}

bool devsys__initialized(void)
{
	return __atomic_load_n(&init_count, __ATOMIC_ACQUIRE) > 0;
}

int devsys__require_init(const char *func)
{
	if (devsys__initialized())
		return 0;
	return devsys__error_set(DEVSYS_ENOTINIT, "%s: call devsys_init() first", func);
}

const char *devsys_version(void)
{
	return DEVSYS_VERSION_STRING;
}

const char *devsys_features(void)
{
	return DEVSYS_FEATURES;
}

int devsys_feature_enabled(const char *name)
{
	static const char all[] = DEVSYS_FEATURES;
	const char *p = all;
	size_t n;

	if (!name || !*name || strchr(name, ' '))
		return 0;
	n = strlen(name);
	while ((p = strstr(p, name)) != NULL) {
		bool starts = p == all || p[-1] == ' ';
		if (starts && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

void devsys_version_numbers(int *major, int *minor, int *patch)
{
	if (major) *major = DEVSYS_VERSION_MAJOR;
	if (minor) *minor = DEVSYS_VERSION_MINOR;
	if (patch) *patch = DEVSYS_VERSION_PATCH;
}

static const size_t allocator_sizes[] = { 0, DEVSYS__SIZE_THROUGH(devsys_allocator, payload) };

int devsys_set_allocator(const devsys_allocator *alloc)
{
	devsys_allocator next = { DEVSYS_ALLOCATOR_VERSION, default_malloc, default_realloc, default_free, NULL };
	int rc;

	if (alloc) {
		rc = devsys__versioned_copy(&next, alloc, allocator_sizes, DEVSYS_ALLOCATOR_VERSION, "devsys_allocator");
		if (rc < 0)
			return rc;
		if (!next.malloc_fn || !next.realloc_fn || !next.free_fn)
			return devsys__error_set(DEVSYS_EINVAL,
			                         "devsys_set_allocator: malloc_fn, realloc_fn and free_fn are all required");
	}
	pthread_mutex_lock(&init_lock);
	if (init_count > 0) {
		pthread_mutex_unlock(&init_lock);
		return devsys__error_set(DEVSYS_EBUSY,
		                         "devsys_set_allocator: call it before devsys_init() or after the last devsys_shutdown()");
	}
	allocator = next;
	pthread_mutex_unlock(&init_lock);
	return 0;
}

void *devsys__malloc(size_t size) { return allocator.malloc_fn(size ? size : 1, allocator.payload); }
void *devsys__realloc(void *ptr, size_t size) { return allocator.realloc_fn(ptr, size ? size : 1, allocator.payload); }
void devsys__free(void *ptr) { if (ptr) allocator.free_fn(ptr, allocator.payload); }

void *devsys__calloc(size_t nmemb, size_t size)
{
	void *p;
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = devsys__malloc(nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

char *devsys__strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = devsys__malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *devsys__strdup(const char *s)
{
	size_t len;
	char *p;
	if (!s)
		return NULL;
	len = strlen(s);
	if ((p = devsys__malloc(len + 1)))
		memcpy(p, s, len + 1);
	return p;
}

char *devsys__asprintf(const char *fmt, ...)
{
	va_list ap, ap2;
	int n;
	char *p;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p = n < 0 ? NULL : devsys__malloc((size_t)n + 1);
	if (p)
		vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

void *devsys_malloc(size_t size) { return devsys__malloc(size); }
void devsys_free(void *ptr) { devsys__free(ptr); }

int devsys__versioned_copy(void *dst, const void *src, const size_t *sizes, unsigned int max_version,
                           const char *type_name)
{
	unsigned int version;
	DEVSYS__CHECK_ARG(src);
	memcpy(&version, src, sizeof(version));
	if (version == 0 || version > max_version)
		return devsys__error_set(DEVSYS_EVERSION,
		                         "%s: version %u is not supported by libdevsys %s (supported: 1..%u); "
		                         "initialise the struct with its _INIT macro or _options_init()",
		                         type_name, version, DEVSYS_VERSION_STRING, max_version);
	memcpy(dst, src, sizes[version]);
	return 0;
}

int devsys__options_init(void *opts, const void *defaults, const size_t *sizes, unsigned int max_version,
                         unsigned int version, const char *func)
{
	if (!opts)
		return devsys__error_set(DEVSYS_EINVAL, "%s: argument 'opts' must not be NULL", func);
	if (version == 0 || version > max_version)
		return devsys__error_set(DEVSYS_EVERSION,
		                         "%s: version %u is not supported by libdevsys %s (supported: 1..%u)", func,
		                         version, DEVSYS_VERSION_STRING, max_version);
	memcpy(opts, defaults, sizes[version]);
	memcpy(opts, &version, sizeof(version)); /* every options struct starts with its version */
	return 0;
}
