"""Case files (TOML -> validated configuration), preparing and running them, and results writers (VTU/PVD, CSV, JSON).

This is the edge of the package: it reads files and writes them (VTU by a small writer of its own, read back by
ParaView/VTK, pyvista and meshio).
"""

from ._case import (
    CaseConfig as CaseConfig,
    CaseError as CaseError,
    ConductivitySpec as ConductivitySpec,
    DiffusionSpec as DiffusionSpec,
    FibreSpec as FibreSpec,
    MeshSpec as MeshSpec,
    ModelSpec as ModelSpec,
    PerRegion as PerRegion,
    RecordSpec as RecordSpec,
    SimulationSpec as SimulationSpec,
    SlabSpec as SlabSpec,
    StimulusSpec as StimulusSpec,
    TissueSpec as TissueSpec,
    load_case as load_case,
    parse_case as parse_case,
)
from ._prepare import (
    PreparedCase as PreparedCase,
    RunOutcome as RunOutcome,
    prepare_case as prepare_case,
    read_fibre_file as read_fibre_file,
    run_case as run_case,
)
from ._results import (
    MANIFEST_KEY as MANIFEST_KEY,
    RESULTS_MARKER as RESULTS_MARKER,
    ResultsError as ResultsError,
    atomic_file as atomic_file,
    check_output_file as check_output_file,
    check_output_folder as check_output_folder,
    clean_stale as clean_stale,
    ep_summary as ep_summary,
    folder_manifest as folder_manifest,
    results_folder as results_folder,
    write_activation_vtu as write_activation_vtu,
    write_ep_results as write_ep_results,
    write_json as write_json,
    write_probes_csv as write_probes_csv,
    write_pvd as write_pvd,
    write_snapshot_series as write_snapshot_series,
    read_snapshot_series as read_snapshot_series,
    write_vtu as write_vtu,
)
from ._units import UnitError as UnitError, parse_quantity as parse_quantity
from ._vtu import VtuWriter as VtuWriter
