from __future__ import annotations

import pytest

from govgraph.auth.masks import mask_address, mask_amount_band, mask_id_number, mask_name


def test_id_number_keeps_first_six_and_last_four() -> None:
    assert mask_id_number("110101199003071233") == "110101********1233"
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_id_number("short") == "*****"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张伟", "张*"), ("王建国", "王**"), ("欧阳娜娜", "欧阳**"), ("欧阳", "欧*"), ("", "")],
)
def test_name_keeps_the_surname(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("address", "district"),
    [
        ("北京市东城区景山前街4号院2号楼301", "北京市东城区"),
        ("北京市朝阳区建国路88号院3号楼502", "北京市朝阳区"),
        ("河北省石家庄市长安区中山东路1号", "河北省石家庄市长安区"),
        ("浙江省杭州市桐庐县城南街道", "浙江省杭州市桐庐县"),
    ],
)
def test_address_is_cut_to_its_district(address: str, district: str) -> None:
    assert mask_address(address) == district


def test_address_without_a_district_reveals_nothing() -> None:
    assert mask_address("景山前街4号") == "******"


@pytest.mark.parametrize(
    ("amount", "band"),
    [
        (0, "0-10000"),
        (54000, "30000-60000"),
        (60000, "60000-100000"),
        (186000, "100000-200000"),
        (35000.5, "30000-60000"),
        (7_000_000, "5000000+"),
        (-5, "<0"),
    ],
)
def test_amount_becomes_a_band(amount: float, band: str) -> None:
    assert mask_amount_band(amount) == band
