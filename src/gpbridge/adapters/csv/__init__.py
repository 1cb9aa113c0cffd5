"""CSV extracts with legacy codes (Read v2, CTV3, local) under declarative YAML mapping profiles."""

from gpbridge.adapters.csv.convert import csv_to_bundle, translate_csv
from gpbridge.adapters.csv.errors import CsvError, ProfileError
from gpbridge.adapters.csv.importer import import_csv, import_csv_file
from gpbridge.adapters.csv.profile import Profile, available_profiles, load_profile

__all__ = ["CsvError", "Profile", "ProfileError", "available_profiles", "csv_to_bundle", "import_csv",
           "import_csv_file", "load_profile", "translate_csv"]
