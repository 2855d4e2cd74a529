"""Bearer JWTs (FREEWAY_JWT_JWKS_URL): verified against a JWKS served on loopback with keys
this test makes; claims map to team and role."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.integration.edge.conftest import (
    AUTH,
    CHAT,
    USER,
    Edge,
    EdgeFactory,
    assert_openai_error,
    away_from_window_edge,
)

ISSUER = "https://issuer.test"
AUDIENCE = "freeway"


@dataclass
class Issuer:
    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    url: str

    def token(self, alg: str = "RS256", kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
        payload.update(claims)
        key = self.rsa if alg.startswith("RS") else self.ec
        kid = kid or ("rsa-1" if alg.startswith("RS") else "ec-1")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    private_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_ec = ec.generate_private_key(ec.SECP256R1())
    keys = [
        {**RSAAlgorithm.to_jwk(private_rsa.public_key(), as_dict=True), "kid": "rsa-1"},
        {**ECAlgorithm.to_jwk(private_ec.public_key(), as_dict=True), "kid": "ec-1"},
    ]

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": keys})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    async with TestServer(app, host="127.0.0.1") as server:
        yield Issuer(private_rsa, private_ec, str(server.make_url("/.well-known/jwks.json")))


@pytest.fixture
async def edge(make_edge: EdgeFactory, issuer: Issuer) -> AsyncIterator[Edge]:
    async with make_edge(
        jwt_jwks_url=issuer.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE
    ) as built:
        yield built


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_member_token_chats_as_its_subject_and_team(edge: Edge, issuer: Issuer) -> None:
    token = issuer.token("ES256", team="data", role="member")
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=bearer(token))
    assert resp.status == 200
    seen = edge.router.seen[-1].request
    assert (seen.key_id, seen.team_id) == ("jwt:alice", "data")


async def test_a_viewer_token_reads_but_does_not_chat(edge: Edge, issuer: Issuer) -> None:
    token = issuer.token(role="viewer")
    assert (await edge.client.get("/v1/models", headers=bearer(token))).status == 200
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=bearer(token))
    await assert_openai_error(resp, 403)
    resp = await edge.client.get("/v1/admin/keys", headers=bearer(token))
    await assert_openai_error(resp, 403)


async def test_a_list_of_roles_grants_the_highest(edge: Edge, issuer: Issuer) -> None:
    token = issuer.token(role=["viewer", "admin"])
    assert (await edge.client.get("/v1/admin/keys", headers=bearer(token))).status == 200


async def test_the_teams_limits_apply_to_its_tokens(edge: Edge, issuer: Issuer) -> None:
    resp = await edge.client.put("/v1/admin/teams/ml", json={"limits": {"rpm": 1}}, headers=AUTH)
    assert resp.status == 200
    await away_from_window_edge()
    headers = bearer(issuer.token(team="ml", sub="bob"))
    assert (await edge.client.post(CHAT, json={"messages": USER}, headers=headers)).status == 200
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=headers)
    error = await assert_openai_error(resp, 429)
    assert "team ml" in error["message"]


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"iss": "https://elsewhere.test"},
        {"aud": "someone-else"},
        {"sub": ""},
        {"team": 42},
    ],
    ids=["expired", "issuer", "audience", "no-subject", "bad-team"],
)
async def test_bad_claims_are_refused(edge: Edge, issuer: Issuer, claims: dict[str, Any]) -> None:
    resp = await edge.client.get("/v1/models", headers=bearer(issuer.token(**claims)))
    error = await assert_openai_error(resp, 401)
    assert error["code"] == "invalid_api_key"


async def test_an_unknown_role_is_forbidden(edge: Edge, issuer: Issuer) -> None:
    resp = await edge.client.get("/v1/models", headers=bearer(issuer.token(role="root")))
    await assert_openai_error(resp, 403)


async def test_tokens_not_signed_by_the_issuer_are_refused(edge: Edge, issuer: Issuer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 60}
    forged = [
        jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-1"}),
        jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "other"}),
        jwt.encode(
            claims,
            "a-shared-secret-of-at-least-32-bytes",
            algorithm="HS256",
            headers={"kid": "rsa-1"},
        ),
        jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        issuer.token("ES256", kid="rsa-1"),  # a real signature, with the wrong key's id
    ]
    for token in forged:
        resp = await edge.client.get("/v1/models", headers=bearer(token))
        await assert_openai_error(resp, 401)


async def test_without_a_jwks_url_tokens_are_just_wrong_keys(
    make_edge: EdgeFactory, issuer: Issuer
) -> None:
    async with make_edge() as edge:
        resp = await edge.client.get("/v1/models", headers=bearer(issuer.token()))
        await assert_openai_error(resp, 401)
