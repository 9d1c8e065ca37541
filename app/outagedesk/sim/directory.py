"""A fake, deterministic customer directory (accounts, service locations, meters, phones).

Every phone number is in the fictional 555-0100..0199 block: +1AAA55501NN. Area codes 208 and
406 are reserved for numbers that are in no directory (unlinked senders in traffic.py).
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from outagedesk.directory_file import COLUMNS

# The file is written for ``outagedesk import-accounts``: its columns, in their order.
CSV_HEADER = COLUMNS

# Used first, so small directories look like one Southwest/Mountain utility.
HOME_AREA_CODES = (
    "505", "575", "303", "720", "602", "480", "915", "801", "702", "385",
    "520", "928", "719", "970", "435", "725", "623", "432", "806", "307",
)  # fmt: skip
# Reserved for senders that are in no directory.
UNLINKED_AREA_CODES = ("208", "406")
# More US geographic area codes, used only when a large directory needs more numbers: the
# fictional block has just 100 numbers per area code.
_MORE_AREA_CODES_TEXT = (
    "201 202 203 205 206 207 209 210 212 213 214 215 216 217 218 219 220 223 224 225 227 228 "
    "229 231 234 235 239 240 248 251 252 253 254 256 260 262 267 269 270 272 274 276 279 281 "
    "283 301 302 304 305 308 309 310 312 313 314 315 316 317 318 319 320 321 323 324 325 326 "
    "327 329 330 331 332 334 336 337 339 341 346 347 350 351 352 353 360 361 363 364 369 380 "
    "386 401 402 404 405 407 408 409 410 412 413 414 415 417 419 423 424 425 430 434 440 442 "
    "443 445 447 448 458 463 464 469 470 472 475 478 479 484 501 502 503 504 507 508 509 510 "
    "512 513 515 516 517 518 530 531 534 539 540 541 551 557 559 561 562 563 564 567 570 571 "
    "572 573 574 580 582 585 586 601 603 605 606 607 608 609 610 612 614 615 616 617 618 619 "
    "620 626 628 629 630 631 636 640 641 645 646 650 651 656 657 659 660 661 662 667 669 678 "
    "680 681 682 686 689 701 703 704 706 707 708 712 713 714 715 716 717 718 724 726 727 728 "
    "730 731 732 734 737 738 740 743 747 748 754 757 760 762 763 765 769 770 771 772 773 774 "
    "775 779 781 785 786 802 803 804 805 808 810 812 813 814 815 816 817 818 820 821 826 828 "
    "830 831 832 835 838 839 840 843 845 847 848 850 854 856 857 858 859 860 862 863 864 865 "
    "870 872 878 901 903 904 906 907 908 909 910 912 913 914 916 917 918 919 920 925 929 930 "
    "931 934 936 937 938 940 941 943 945 947 948 949 951 952 954 956 959 971 972 973 975 978 "
    "979 980 983 984 985 986 989"
)
_MORE_AREA_CODES = tuple(_MORE_AREA_CODES_TEXT.split())

_FIRST_NAMES = (
    "Ana", "Ben", "Carla", "Dmitri", "Elena", "Frank", "Gloria", "Hector", "Ines", "Jamal",
    "Kira", "Luis", "Maya", "Nora", "Oscar", "Priya", "Quinn", "Rosa", "Sam", "Tomas",
    "Uma", "Victor", "Wren", "Ximena", "Yusuf", "Zoe", "Alma", "Bodhi", "Celia", "Dante",
    "Esme", "Fidel", "Greta", "Hal", "Isla", "Joaquin", "Lena", "Marco", "Nell", "Otis",
)  # fmt: skip
_LAST_NAMES = (
    "Abeyta", "Baca", "Castellano", "Duran", "Esquibel", "Fairweather", "Gallegos", "Halvorsen",
    "Ilfeld", "Jaramillo", "Kettleman", "Lucero", "Montoya", "Nakai", "Ortiz", "Padilla",
    "Quintana", "Romero", "Sandoval", "Trujillo", "Ulibarri", "Valdez", "Whitlock", "Yazzie",
    "Zamora", "Archuleta", "Brightwater", "Chavez", "Dunmore", "Espinoza", "Farnsworth",
    "Garnett", "Holloway", "Lindqvist", "Marquez", "Okafor", "Pettibone", "Redsky", "Stroud",
)  # fmt: skip
_STREETS = (
    "Main St", "Elm St", "Oak Ave", "Pine St", "Cedar Ln", "Maple Dr", "Mesa Rd", "Lake Rd",
    "Juniper Way", "Pinon Ct", "Sage Blvd", "Cottonwood Ln", "Arroyo Rd", "Canyon View Dr",
    "Ridge Rd", "Mill St", "Church St", "Park Ave", "River Rd", "Sunset Blvd", "Aspen Ct",
    "Willow Way", "Desert Rose Ln", "Yucca St", "Mountain View Rd", "Prairie Ln", "Granite St",
    "Copper Ave", "Silver St", "Railroad Ave", "Bosque Loop", "Acequia Trl", "Chamisa Dr",
    "Old Mill Rd", "County Rd 12", "Quail Run", "Antelope Pass", "Ponderosa Ave",
)  # fmt: skip
_BUSINESS = ("Farms", "Ranch", "Properties LLC", "Rentals", "Dairy", "Orchards")


@dataclass(frozen=True)
class DirectoryRow:
    account_number: str
    service_location_id: str
    meter_id: str | None
    customer_name: str
    service_address: str
    phones: tuple[str, ...]
    life_support: bool


def _area_pool(size: int) -> tuple[str, ...]:
    # Enough area codes that every phone of the directory is distinct (as far as possible).
    wanted = math.ceil(size * 1.5 / 100)
    extra = max(0, wanted - len(HOME_AREA_CODES))
    return HOME_AREA_CODES + _MORE_AREA_CODES[:extra]


def generate_directory(size: int, seed: int = 1) -> Iterator[DirectoryRow]:
    """Yield ``size`` rows (one per service location), deterministic for ``(size, seed)``.

    About 15 % of accounts have 2-3 service locations (all rows of an account share its phones);
    about 4 % of accounts also list a landlord phone that other accounts list too; about 2 % are
    life-support; about 3 % of rows have no meter (address-level only).
    """
    if size < 0:
        raise ValueError("size must be >= 0")
    rng = random.Random(seed)
    rand = rng.random
    pool = _area_pool(size)
    n_pool = len(pool)
    n_first, n_last, n_streets = len(_FIRST_NAMES), len(_LAST_NAMES), len(_STREETS)
    next_phone = 0
    landlords: list[str] = []
    account = 1000
    meter = 55000
    emitted = 0

    def new_phone() -> str:
        nonlocal next_phone
        k = next_phone
        next_phone += 1
        # Round-robin over area codes, so neighbouring accounts get different ones.
        return f"+1{pool[k % n_pool]}55501{(k // n_pool) % 100:02d}"

    while emitted < size:
        account += 1
        acct = str(account)
        r = rand()
        locations = 1 if r < 0.85 else (2 if r < 0.95 else 3)
        r = rand()
        n_phones = 0 if r < 0.05 else (1 if r < 0.65 else (2 if r < 0.92 else 3))
        phones = [new_phone() for _ in range(n_phones)]
        if rand() < 0.04:
            if len(landlords) < 3 or rand() < 0.25:
                landlords.append(new_phone())
                if len(landlords) > 64:
                    del landlords[0]
            landlord = landlords[int(rand() * len(landlords))]
            if landlord not in phones:
                phones = [*phones[:2], landlord]
        phone_tuple = tuple(phones)
        life_support = rand() < 0.02
        last = _LAST_NAMES[int(rand() * n_last)]
        if locations > 1 and rand() < 0.4:
            name = f"{last} {_BUSINESS[int(rand() * len(_BUSINESS))]}"
        else:
            name = f"{_FIRST_NAMES[int(rand() * n_first)]} {last}"
        for index in range(1, locations + 1):
            if emitted >= size:
                break
            meter += 1
            address = f"{1 + int(rand() * 9899)} {_STREETS[int(rand() * n_streets)]}"
            yield DirectoryRow(
                acct,
                f"SL-{acct}-{index}",
                None if rand() < 0.03 else f"M-{meter}",
                name,
                address,
                phone_tuple,
                life_support,
            )
            emitted += 1


def write_directory_csv(rows: Iterable[DirectoryRow], path: Path) -> int:
    """Write ``rows`` as the directory CSV the console imports; return the row count."""
    count = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for row in rows:
            writer.writerow(
                (
                    row.account_number,
                    row.service_location_id,
                    row.meter_id or "",
                    row.customer_name,
                    row.service_address,
                    ";".join(row.phones),
                    "yes" if row.life_support else "no",
                )
            )
            count += 1
    return count
