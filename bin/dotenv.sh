# Sourced by bin/bootstrap.sh: a local .env with a secret key of its own, readable by its owner
# only (it holds the secret key, and any API key put in it); never committed (.env.example).
if [[ ! -f .env ]]; then
    secret="$("${PYTHON:-python3}" -c 'import secrets; print(secrets.token_urlsafe(50))')"
    (umask 077 && sed "s|^DJANGO_SECRET_KEY=.*|DJANGO_SECRET_KEY=${secret}|" .env.example > .env)
    echo "Wrote .env with a new secret key (edit it to use OpenAI or PostgreSQL)."
fi
chmod 600 .env  # one written before this rule, too
