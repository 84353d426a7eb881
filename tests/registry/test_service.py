"""The registry's use cases: organisations, member systems, credentials, services and purposes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from renkei.registry.errors import (
    CredentialInvalid,
    CredentialUnknown,
    EndpointInvalid,
    MemberExists,
    MemberInvalid,
    MemberUnknown,
    OrganisationExists,
    OrganisationInvalid,
    OrganisationUnknown,
    PurposeExists,
    PurposeInvalid,
    RegistryInputInvalid,
    ServiceNotProvidable,
    ServiceUnknown,
)
from renkei.registry.identifiers import MemberId
from renkei.registry.keys import certificate_kid, generate_private_key, public_key_pem
from renkei.registry.models import KeyType, ServiceProtocol
from renkei.registry.service import Enrolment, Registry
from renkei.storage.clock import FixedClock
from tests.registry.conftest import CHIYODA, T0


def test_an_organisation_is_registered_once(registry: Registry) -> None:
    organisation = registry.add_organisation("LG", CHIYODA, "千代田区")
    assert str(organisation.id) == "JP/LG/131016"
    assert organisation.registered_at == T0
    assert registry.organisation("JP/LG/131016") == organisation
    with pytest.raises(OrganisationExists):
        registry.add_organisation("LG", CHIYODA, "千代田区")
    assert registry.organisations() == [organisation]


def test_an_organisation_code_must_fit_its_class(registry: Registry) -> None:
    with pytest.raises(OrganisationInvalid):
        registry.add_organisation("LG", "131017", "千代田区")
    with pytest.raises(OrganisationInvalid):
        registry.add_organisation("COM", "131016", "株式会社")
    with pytest.raises(RegistryInputInvalid):
        registry.add_organisation("LG", CHIYODA, "   ")


def test_enrolment_issues_a_client_certificate_naming_the_member(
    chiyoda_tax: Enrolment, registry: Registry
) -> None:
    member = chiyoda_tax.member
    assert str(member.id) == "JP/LG/131016/u06"
    assert member.name == "個人住民税"
    certificate = x509.load_pem_x509_certificate(chiyoda_tax.certificate_pem)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "JP/LG/131016/u06"
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:renkei:member:JP/LG/131016/u06"]
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca = x509.load_pem_x509_certificate(chiyoda_tax.ca_certificate_pem)
    certificate.verify_directly_issued_by(ca)
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=365)
    credential = chiyoda_tax.credential
    assert credential.kid == certificate_kid(certificate)
    assert credential.key_type is KeyType.P256
    assert registry.credentials(member.id) == [credential]
    assert registry.credential(credential.kid) == credential


def test_validity_and_key_type_are_configurable(registry: Registry) -> None:
    registry.add_organisation("LG", CHIYODA, "千代田区")
    enrolment = registry.enrol("JP/LG/131016", 1, key_type=KeyType.ED25519, validity=timedelta(days=30))
    assert enrolment.credential.key_type is KeyType.ED25519
    assert enrolment.credential.not_after - enrolment.credential.not_before == timedelta(days=30)


def test_a_member_system_runs_a_unit_in_force(registry: Registry) -> None:
    with pytest.raises(OrganisationUnknown):
        registry.enrol("JP/LG/131016", 6)
    registry.add_organisation("LG", CHIYODA, "千代田区")
    with pytest.raises(MemberInvalid) as superseded:
        registry.enrol("JP/LG/131016", 3)
    assert superseded.value.detail["superseded_by"] == 1
    with pytest.raises(MemberInvalid):
        registry.enrol("JP/LG/131016", 23)
    registry.enrol("JP/LG/131016", 6)
    with pytest.raises(MemberExists):
        registry.enrol("JP/LG/131016", 6)
    assert len(registry.credentials()) == 1, "a refused enrolment issues nothing"


def test_services_follow_the_linkage_matrix(chiyoda_tax: Enrolment, registry: Registry) -> None:
    member = chiyoda_tax.member.id
    provided = registry.provided_service(member, "income-certificate")
    assert provided.endpoint == "https://zei.chiyoda.example.lg.jp/renkei"
    assert provided.protocol is ServiceProtocol.REST
    assert provided.information == "individual-resident-tax"
    with pytest.raises(ServiceNotProvidable) as raised:
        registry.provide(member, "resident-record-inquiry")  # 住基情報 is sent by unit 1 only
    assert raised.value.detail["unit"] == 6
    with pytest.raises(ServiceNotProvidable):
        registry.provide(member, "no-such-service")
    soap = registry.provide(
        member, "individual-resident-tax-changes", endpoint="https://zei.example.lg.jp/soap", protocol="soap"
    )
    assert soap.protocol is ServiceProtocol.SOAP
    assert [p.service for p in registry.provided_services(member)] == [
        "income-certificate",
        "individual-resident-tax-changes",
    ]
    assert [str(p.provider) for p in registry.providers("income-certificate")] == ["JP/LG/131016/u06"]
    assert {s.id for _, s in registry.providable_services(6)} >= {
        "income-certificate",
        "mailing-address-inquiry",
    }


def test_providing_again_replaces_the_endpoint(
    chiyoda_tax: Enrolment, registry: Registry, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=1))
    again = registry.provide(
        chiyoda_tax.member.id, "income-certificate", endpoint="https://new.example.lg.jp/"
    )
    assert again.endpoint == "https://new.example.lg.jp/"
    assert again.registered_at == T0
    registry.withdraw(chiyoda_tax.member.id, "income-certificate")
    with pytest.raises(ServiceUnknown):
        registry.provided_service(chiyoda_tax.member.id, "income-certificate")


@pytest.mark.parametrize(
    ("endpoint", "protocol"),
    [
        ("ftp://x.example/", "rest"),
        ("https:///nohost", "rest"),
        ("not a url", "soap"),
        ("https://x/ y", "rest"),
    ],
)
def test_endpoints_are_absolute_urls_for_their_protocol(
    registry: Registry, endpoint: str, protocol: str
) -> None:
    registry.add_organisation("LG", CHIYODA, "千代田区")
    with pytest.raises(EndpointInvalid):
        registry.add_member("JP/LG/131016", 6, endpoint=endpoint, protocol=protocol)


def test_a_service_needs_an_endpoint(registry: Registry) -> None:
    registry.add_organisation("LG", CHIYODA, "千代田区")
    member = registry.add_member("JP/LG/131016", 6)
    with pytest.raises(EndpointInvalid):
        registry.provide(member.id, "income-certificate")
    provided = registry.provide(
        member.id, "income-certificate", endpoint="file:///srv/renkei/in", protocol="file"
    )
    assert provided.protocol is ServiceProtocol.FILE


def test_revocation_is_listed_in_the_crl(chiyoda_tax: Enrolment, registry: Registry) -> None:
    revoked = registry.revoke(chiyoda_tax.credential.kid, "key-compromise")
    assert revoked.revoked_at == T0
    assert revoked.revocation_reason == "key-compromise"
    again = registry.revoke(chiyoda_tax.credential.kid, "other")
    assert again.revocation_reason == "key-compromise", "the first revocation stands"
    crl = x509.load_pem_x509_crl(registry.revocation_list())
    serial = int(chiyoda_tax.credential.serial or "0")
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert crl.is_signature_valid(registry.authority.ensure().public_key())  # type: ignore[arg-type]
    with pytest.raises(CredentialUnknown):
        registry.revoke("0" * 64)


def test_renewal_adds_a_second_credential(chiyoda_tax: Enrolment, registry: Registry) -> None:
    renewed = registry.renew(chiyoda_tax.member.id)
    assert renewed.credential.kid != chiyoda_tax.credential.kid
    assert len(registry.credentials(chiyoda_tax.member.id)) == 2


def test_certificates_must_come_from_this_ca_and_name_the_member(
    chiyoda_tax: Enrolment, registry: Registry
) -> None:
    with pytest.raises(CredentialInvalid):
        registry.register_credential(chiyoda_tax.member.id, chiyoda_tax.certificate_pem)  # already registered
    registry.add_organisation("LG", "131024", "中央区")
    other = registry.enrol("JP/LG/131024", 6)
    with pytest.raises(CredentialInvalid):
        registry.register_credential(other.member.id, chiyoda_tax.certificate_pem)


def test_a_bare_public_key_needs_a_validity(chiyoda_tax: Enrolment, registry: Registry) -> None:
    key = generate_private_key(KeyType.ED25519)
    pem = public_key_pem(key.public_key())
    with pytest.raises(CredentialInvalid):
        registry.register_credential(chiyoda_tax.member.id, pem)
    credential = registry.register_credential(chiyoda_tax.member.id, pem, not_after=T0 + timedelta(days=90))
    assert credential.certificate_pem is None
    assert credential.key_type is KeyType.ED25519
    with pytest.raises(CredentialInvalid):
        registry.register_credential(
            chiyoda_tax.member.id, b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n"
        )


def test_unknown_members_are_reported(registry: Registry) -> None:
    with pytest.raises(MemberUnknown):
        registry.member("JP/LG/131016/u06")
    assert registry.find_member(MemberId.parse("JP/LG/131016/u06")) is None


def test_a_purpose_names_what_it_may_use(registry: Registry) -> None:
    purpose = registry.add_purpose(
        "infant-medical-subsidy",
        "乳幼児医療費助成",
        "児童福祉法 / 各区市町村の乳幼児医療費助成条例",
        {"個人住民税情報": ["taxable_income", "atena_number"], "resident-record": None},
    )
    assert [u.information for u in purpose.uses] == ["individual-resident-tax", "resident-record"]
    assert purpose.items_of("individual-resident-tax") == ("atena_number", "taxable_income")
    carried = purpose.items_of("resident-record")
    assert carried
    assert all(not registry.spec.kind("resident-record").item(i).local_only for i in carried)
    assert registry.purpose("infant-medical-subsidy") == purpose
    assert registry.purposes() == [purpose]
    with pytest.raises(PurposeExists):
        registry.add_purpose("infant-medical-subsidy", "x", "y", {"resident-record": None})


@pytest.mark.parametrize(
    ("purpose_id", "legal_basis", "uses"),
    [
        ("Bad Id", "法", {"resident-record": None}),
        ("ok", "法", {}),
        ("ok", "法", {"no-such-kind": None}),
        ("ok", "法", {"resident-record": ["no_such_item"]}),
        ("ok", "法", {"resident-record": []}),
    ],
)
def test_malformed_purposes_are_refused(
    registry: Registry, purpose_id: str, legal_basis: str, uses: dict[str, list[str] | None]
) -> None:
    with pytest.raises(PurposeInvalid):
        registry.add_purpose(purpose_id, "名称", legal_basis, uses)


def test_local_only_items_are_never_a_purpose_s_to_use(registry: Registry) -> None:
    kind = registry.spec.kind("resident-record")
    local = next(i.id for i in kind.items if i.local_only)
    with pytest.raises(PurposeInvalid):
        registry.add_purpose("ok", "名称", "法", {"resident-record": [local]})
