"""The directory: Practitioner, PractitionerRole, Organization and CareTeam, read and searched by
anyone signed in (rule `directory-read`; a token needs the resource's read scope).

It holds no patient data, so its reads are not journaled. It shows what a patient or a
colleague needs to recognise a professional (name, profession, specialty, professional
number, organisation), never a username, which would help guess sign-ins.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request

from coffre import access, identity, records
from coffre.api.body import number, one, page_size, search_parameters
from coffre.api.calls import Api
from coffre.api.outcomes import FhirResponse, Problem
from coffre.api.search import next_page, no_total, searchset
from coffre.identity import Account, Actor, CareTeam, Organisation

PROFESSIONAL_ROLES = frozenset({"practitioner", "staff"})
PROFESSION_SYSTEM = "urn:coffre:profession"
KIND_SYSTEM = "urn:coffre:organisation-kind"


# Letters NFKD does not take apart, spelled as people type them.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


def folded(text: str) -> str:
    """Text as a FHIR string search compares it: without case or accents ('Hautecœur'
    and 'hautecoeur', 'Hélène' and 'helene' compare equal)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _allowed(actor: Actor, resource: str) -> None:
    decision = access.decide_directory(actor, resource)
    if not decision.allowed:
        raise access.AccessDenied(decision.rule, decision.explanation)


def practitioner(account: Account) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": account.id,
        "active": True,
        "name": [{"text": account.display_name}],
    }
    if account.professional_id:
        resource["identifier"] = [
            {"system": "urn:coffre:professional-id", "value": account.professional_id}
        ]
    return resource


def role(account: Account) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": f"role-{account.id}",
        "active": True,
        "practitioner": {"reference": f"Practitioner/{account.id}"},
        "organization": {"reference": f"Organization/{account.organisation_id}"},
    }
    if account.profession:
        resource["code"] = [{"coding": [{"system": PROFESSION_SYSTEM, "code": account.profession}]}]
    if account.specialty:
        resource["specialty"] = [{"text": account.specialty}]
    return resource


def organization(organisation: Organisation) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": organisation.id,
        "active": True,
        "name": organisation.name,
        "type": [{"coding": [{"system": KIND_SYSTEM, "code": organisation.kind.value}]}],
        "address": [{"country": organisation.country}],
    }


def care_team(team: CareTeam) -> dict[str, Any]:
    """A care team of the directory: its members, never its patients (which relationships
    open a patient's record to the team is the patient's EpisodeOfCare)."""
    return {
        "resourceType": "CareTeam",
        "id": team.id,
        "status": "active",
        "name": team.name,
        "managingOrganization": [{"reference": f"Organization/{team.organisation_id}"}],
        "participant": [{"member": {"reference": f"Practitioner/{m}"}} for m in team.member_ids],
    }


def _professionals(api: Api, organisation_id: str | None = None) -> list[Account]:
    with api.coffre.reader() as uow:
        return [
            a for a in identity.list_accounts(uow, organisation_id) if a.role in PROFESSIONAL_ROLES
        ]


def _members(resource: dict[str, Any]) -> set[str]:
    """The account ids of a CareTeam's participants, each a Practitioner reference."""
    found = set()
    for n, participant in enumerate(resource.get("participant") or []):
        reference = ((participant or {}).get("member") or {}).get("reference") or ""
        kind, _, account_id = reference.partition("/")
        if kind != "Practitioner" or not account_id or "/" in account_id:
            raise Problem(
                400,
                "invalid",
                "A care team's participant must be a Practitioner reference (Practitioner/ID).",
                f"CareTeam.participant[{n}].member",
            )
        found.add(account_id)
    return found


def _reference(value: str | None, kind: str) -> str | None:
    return value.rpartition(f"{kind}/")[2] if value else None


def add_routes(routes: APIRouter, api: Api) -> None:
    def page(path: str, params: dict[str, list[str]], found: list[dict[str, Any]]) -> FhirResponse:
        offset, count = number(params, "_offset", 0), page_size(params)
        if count == 0:
            return FhirResponse(no_total(api.base, path, params))
        more = len(found) > offset + count
        return FhirResponse(
            searchset(
                api.base,
                path,
                params,
                found[offset : offset + count],
                next_page(params, offset, count, more),
            )
        )

    @routes.get("/Practitioner/{account_id}", response_class=FhirResponse)
    async def read_practitioner(account_id: str, request: Request) -> FhirResponse:
        def read(actor: Actor, _: object) -> dict[str, Any]:
            _allowed(actor, "Practitioner")
            found = [a for a in _professionals(api) if a.id == account_id]
            if not found:
                raise Problem(404, "not-found", f"There is no practitioner with id {account_id}.")
            return practitioner(found[0])

        return FhirResponse(await api.run(request, read))

    @routes.get("/Practitioner", response_class=FhirResponse)
    async def search_practitioners(request: Request) -> FhirResponse:
        params = search_parameters(request, ("name", "organization"))
        name = folded(one(params, "name") or "")
        organisation_id = _reference(one(params, "organization"), "Organization")

        def search(actor: Actor, _: object) -> list[dict[str, Any]]:
            _allowed(actor, "Practitioner")
            return [
                practitioner(a)
                for a in _professionals(api, organisation_id)
                if name in folded(a.display_name)
            ]

        return page("Practitioner", params, await api.run(request, search))

    @routes.get("/PractitionerRole", response_class=FhirResponse)
    async def search_roles(request: Request) -> FhirResponse:
        params = search_parameters(request, ("practitioner", "organization"))
        who = _reference(one(params, "practitioner"), "Practitioner")
        organisation_id = _reference(one(params, "organization"), "Organization")

        def search(actor: Actor, _: object) -> list[dict[str, Any]]:
            _allowed(actor, "PractitionerRole")
            return [
                role(a) for a in _professionals(api, organisation_id) if who is None or a.id == who
            ]

        return page("PractitionerRole", params, await api.run(request, search))

    @routes.get("/Organization/{organisation_id}", response_class=FhirResponse)
    async def read_organization(organisation_id: str, request: Request) -> FhirResponse:
        def read(actor: Actor, _: object) -> dict[str, Any]:
            _allowed(actor, "Organization")
            with api.coffre.reader() as uow:
                found = [o for o in identity.list_organisations(uow) if o.id == organisation_id]
            if not found:
                raise Problem(
                    404, "not-found", f"There is no organization with id {organisation_id}."
                )
            return organization(found[0])

        return FhirResponse(await api.run(request, read))

    @routes.get("/Organization", response_class=FhirResponse)
    async def search_organizations(request: Request) -> FhirResponse:
        params = search_parameters(request, ("name",))
        name = folded(one(params, "name") or "")

        def search(actor: Actor, _: object) -> list[dict[str, Any]]:
            _allowed(actor, "Organization")
            with api.coffre.reader() as uow:
                every = identity.list_organisations(uow)
            return [organization(o) for o in every if name in folded(o.name)]

        return page("Organization", params, await api.run(request, search))

    @routes.get("/CareTeam/{team_id}", response_class=FhirResponse)
    async def read_care_team(team_id: str, request: Request) -> FhirResponse:
        def read(actor: Actor, _: object) -> dict[str, Any]:
            _allowed(actor, "CareTeam")
            with api.coffre.reader() as uow:
                found = identity.list_care_teams(uow, team_id=team_id)
            if not found:
                raise Problem(404, "not-found", f"There is no care team with id {team_id}.")
            return care_team(found[0])

        return FhirResponse(await api.run(request, read))

    @routes.put("/CareTeam/{team_id}", response_class=FhirResponse)
    async def update_care_team(team_id: str, request: Request) -> FhirResponse:
        """Replace the team's members by the participants sent (Practitioner references):
        those left out are removed, and no longer read the team's patients."""
        wanted = _members(await api.resource(request, ["CareTeam"], team_id))

        def update(actor: Actor, _: object) -> dict[str, Any]:
            with api.coffre.reader() as uow:
                found = identity.list_care_teams(uow, team_id=team_id)
            if not found:
                raise Problem(404, "not-found", f"There is no care team with id {team_id}.")
            current = set(found[0].member_ids)
            records.change_care_team(
                api.coffre.uow(), actor, team_id, sorted(wanted - current), sorted(current - wanted)
            )
            return care_team(replace(found[0], member_ids=tuple(sorted(wanted))))

        return FhirResponse(await api.run(request, update))

    @routes.get("/CareTeam", response_class=FhirResponse)
    async def search_care_teams(request: Request) -> FhirResponse:
        params = search_parameters(request, ("organization", "participant", "name"))
        organisation_id = _reference(one(params, "organization"), "Organization")
        member = _reference(one(params, "participant"), "Practitioner")
        name = folded(one(params, "name") or "")

        def search(actor: Actor, _: object) -> list[dict[str, Any]]:
            _allowed(actor, "CareTeam")
            with api.coffre.reader() as uow:
                teams = identity.list_care_teams(uow, organisation_id)
            return [
                care_team(t)
                for t in teams
                if (member is None or member in t.member_ids) and name in folded(t.name)
            ]

        return page("CareTeam", params, await api.run(request, search))
