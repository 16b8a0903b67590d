"""FreiHAND: its file format (:mod:`.format`: layout, validated readers, one-line :class:`FreiHandFormatError`)
and its evaluation protocol (:mod:`.scorer`: the official ``eval.py``'s numbers). numpy, scipy and Pillow only:
the offline scorer (``tools/eval_freihand.py``) never imports torch or OpenMMLab."""
from . import scorer
from .format import (
                     ANNOTATIONS,
                     IMAGE_EXTENSIONS,
                     IMAGE_NAME,
                     NUM_VERTS,
                     SHAPES,
                     SPLITS,
                     VERSIONS,
                     FreiHandFormatError,
                     Split,
                     SplitData,
                     annotation_file,
                     check_images,
                     check_versions,
                     count_samples,
                     image_ids_on_disk,
                     image_size,
                     is_complete,
                     keypoint_boxes,
                     load_json,
                     num_copies,
                     read_annotations,
                     read_field,
                     read_split,
                     read_submission,
                     sample_array,
                     split_layout,
)

__all__ = ['ANNOTATIONS', 'IMAGE_EXTENSIONS', 'IMAGE_NAME', 'NUM_VERTS', 'SHAPES', 'SPLITS', 'VERSIONS',
           'FreiHandFormatError', 'Split', 'SplitData', 'annotation_file', 'check_images', 'check_versions',
           'count_samples', 'image_ids_on_disk', 'image_size', 'is_complete', 'keypoint_boxes', 'load_json',
           'num_copies', 'read_annotations', 'read_field', 'read_split', 'read_submission', 'sample_array',
           'scorer', 'split_layout']
