"""Case files (TOML -> validated configuration), preparing and running them, and results writers (VTU/PVD, CSV, JSON);
patient data files and calibration cases (readers, writers, the calibration's run and results folder).

This is the edge of the package: it reads files and writes them (VTU by organtwin's one VTU writer, `VtuWriter`,
the one `organtwin.mesh.write_mesh` uses, read back by ParaView/VTK, pyvista and meshio).
"""

from ..mesh._vtu import VtuWriter as VtuWriter
from ._calibration import CalibrationCase as CalibrationCase
from ._calibration import CalibrationOutcome as CalibrationOutcome
from ._calibration import CalibrationSamples as CalibrationSamples
from ._calibration import build_problem as build_problem
from ._calibration import load_calibration_case as load_calibration_case
from ._calibration import parameter_unit as parameter_unit
from ._calibration import posterior_record as posterior_record
from ._calibration import read_fit as read_fit
from ._calibration import rerun_fit as rerun_fit
from ._calibration import run_calibration as run_calibration
from ._calibration import sample_calibration as sample_calibration
from ._calibration import write_calibration as write_calibration
from ._calibration import write_fit_report as write_fit_report
from ._calibration import write_report_html as write_report_html
from ._case import (
    CaseConfig as CaseConfig,
)
from ._case import (
    CaseError as CaseError,
)
from ._case import (
    ConductivitySpec as ConductivitySpec,
)
from ._case import (
    DiffusionSpec as DiffusionSpec,
)
from ._case import (
    FibreSpec as FibreSpec,
)
from ._case import (
    MeshSpec as MeshSpec,
)
from ._case import (
    ModelSpec as ModelSpec,
)
from ._case import (
    PerRegion as PerRegion,
)
from ._case import (
    RecordSpec as RecordSpec,
)
from ._case import (
    SimulationSpec as SimulationSpec,
)
from ._case import (
    SlabSpec as SlabSpec,
)
from ._case import (
    StimulusSpec as StimulusSpec,
)
from ._case import (
    TissueSpec as TissueSpec,
)
from ._case import (
    load_case as load_case,
)
from ._case import (
    parse_case as parse_case,
)
from ._cell import write_all_or_nothing as write_all_or_nothing
from ._cell import write_cell_trace as write_cell_trace
from ._ecg import ECG_FILES as ECG_FILES
from ._ecg import read_electrodes_csv as read_electrodes_csv
from ._ecg import read_vm_series as read_vm_series
from ._ecg import write_ecg_files as write_ecg_files
from ._ecg import write_ecg_folder as write_ecg_folder
from ._ep_report import TUNING_HEADER as TUNING_HEADER
from ._ep_report import check_ecg_record as check_ecg_record
from ._ep_report import describe_case as describe_case
from ._ep_report import ecg_files_writer as ecg_files_writer
from ._ep_report import ecg_placement as ecg_placement
from ._ep_report import load_ep_case as load_ep_case
from ._ep_report import run_ecg as run_ecg
from ._ep_report import run_ecg_placement as run_ecg_placement
from ._ep_report import run_report as run_report
from ._ep_report import tuning_row as tuning_row
from ._ep_report import write_tuning_json as write_tuning_json
from ._ep_report import written_line as written_line
from ._ep_run import activation_from_run as activation_from_run
from ._ep_run import read_ep_run as read_ep_run
from ._ep_run import region_names_from_summary as region_names_from_summary
from ._flow_options import parse_edv as parse_edv
from ._flow_options import parse_parameter_overrides as parse_parameter_overrides
from ._flow_results import CIRCULATION_FILES as CIRCULATION_FILES
from ._flow_results import circulation_headline as circulation_headline
from ._flow_results import circulation_report as circulation_report
from ._flow_results import circulation_summary as circulation_summary
from ._flow_results import write_circulation_csv as write_circulation_csv
from ._flow_results import write_circulation_folder as write_circulation_folder
from ._flow_results import write_svzerod_csv as write_svzerod_csv
from ._patient_data import read_activation_map as read_activation_map
from ._patient_data import read_cuff_pressure as read_cuff_pressure
from ._patient_data import read_ecg as read_ecg
from ._patient_data import read_pressure_trace as read_pressure_trace
from ._patient_data import read_volume_curve as read_volume_curve
from ._patient_data import write_activation_map_csv as write_activation_map_csv
from ._patient_data import write_cuff_json as write_cuff_json
from ._patient_data import write_ecg_csv as write_ecg_csv
from ._patient_data import write_volume_curve_csv as write_volume_curve_csv
from ._prepare import (
    PreparedCase as PreparedCase,
)
from ._prepare import (
    RunOutcome as RunOutcome,
)
from ._prepare import (
    prepare_case as prepare_case,
)
from ._prepare import (
    read_fibre_file as read_fibre_file,
)
from ._prepare import (
    run_case as run_case,
)
from ._results import (
    MANIFEST_KEY as MANIFEST_KEY,
)
from ._results import (
    RESULTS_MARKER as RESULTS_MARKER,
)
from ._results import (
    ResultsError as ResultsError,
)
from ._results import (
    atomic_file as atomic_file,
)
from ._results import (
    check_output_file as check_output_file,
)
from ._results import (
    check_output_folder as check_output_folder,
)
from ._results import (
    clean_stale as clean_stale,
)
from ._results import (
    ep_summary as ep_summary,
)
from ._results import (
    folder_manifest as folder_manifest,
)
from ._results import (
    read_snapshot_series as read_snapshot_series,
)
from ._results import (
    results_folder as results_folder,
)
from ._results import (
    write_activation_vtu as write_activation_vtu,
)
from ._results import (
    write_ep_results as write_ep_results,
)
from ._results import (
    write_json as write_json,
)
from ._results import (
    write_probes_csv as write_probes_csv,
)
from ._results import (
    write_pvd as write_pvd,
)
from ._results import (
    write_snapshot_series as write_snapshot_series,
)
from ._results import (
    write_vtu as write_vtu,
)
from ._units import UnitError as UnitError
from ._units import parse_quantity as parse_quantity
