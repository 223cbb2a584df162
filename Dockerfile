# The backend image: web (gunicorn), Celery worker and Celery beat all run from it.
#   docker build -t whatsappcrm-backend .
# Configuration comes from the environment (.env through docker-compose); nothing secret is
# baked in (.dockerignore keeps .env, keys and certificates out of the build context).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=whatsappcrm.settings \
    STATIC_ROOT=/app/static \
    MEDIA_ROOT=/app/media

WORKDIR /app

# Pinned, hash-checked runtime dependencies first: this layer is cached until they change.
COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt

COPY whatsappcrm_backend/ whatsappcrm_backend/
COPY deploy/ deploy/

# Static files are collected at build time with the production storage (DEBUG off); the
# values below only let the settings load and are not used by anything at run time.
RUN cd whatsappcrm_backend \
    && SECRET_KEY=collectstatic-only SITE_URL=http://build.invalid \
       FIELD_ENCRYPTION_KEY=Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXJlYWwta2V5 \
       python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/media \
    && chown -R app:app /app/media

USER app
WORKDIR /app/whatsappcrm_backend
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"

CMD ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py", "whatsappcrm.wsgi:application"]
