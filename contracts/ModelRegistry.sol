// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {VerificationClass} from "./types/AssayTypes.sol";

/// @title ModelRegistry
/// @notice Registry of ONNX models keyed by the sha256 of their bytes. Permissionless registration;
/// each model has an owner who sets URIs and fee, deprecates it, or hands it over (two steps).
contract ModelRegistry is IModelRegistry {
    /// @notice Most URIs one model may list.
    uint256 public constant MAX_URIS = 8;

    mapping(bytes32 modelId => Model) private _models;
    bytes32[] private _ids;

    /// @inheritdoc IModelRegistry
    function registerModel(
        bytes32 _modelId,
        string[] calldata _uris,
        uint96 _fee,
        VerificationClass _vclass,
        bytes32 _graphRoot,
        bytes32 _weightsRoot
    ) external {
        // INVARIANT: a model id is a sha256 digest, never zero.
        if (_modelId == bytes32(0)) revert ZeroModelId();
        // INVARIANT: a model id is registered once; its record is never replaced.
        if (_models[_modelId].owner != address(0)) revert ModelAlreadyRegistered(_modelId);
        // INVARIANT: both commitments are needed to decide disputes.
        if (_graphRoot == bytes32(0) || _weightsRoot == bytes32(0)) revert ZeroModelRoot(_modelId);
        _checkURIs(_modelId, _uris);
        Model storage m = _models[_modelId];
        m.owner = msg.sender;
        m.fee = _fee;
        m.vclass = _vclass;
        m.graphRoot = _graphRoot;
        m.weightsRoot = _weightsRoot;
        m.uris = _uris;
        _ids.push(_modelId);
        emit ModelRegistered(_modelId, msg.sender, _fee, _vclass, _graphRoot, _weightsRoot, _uris);
    }

    /// @inheritdoc IModelRegistry
    function setURIs(bytes32 _modelId, string[] calldata _uris) external {
        Model storage m = _ownedBy(_modelId, msg.sender);
        _checkURIs(_modelId, _uris);
        delete m.uris;
        m.uris = _uris;
        emit ModelURIsUpdated(_modelId, _uris);
    }

    /// @inheritdoc IModelRegistry
    function setFee(bytes32 _modelId, uint96 _fee) external {
        Model storage m = _ownedBy(_modelId, msg.sender);
        m.fee = _fee;
        emit ModelFeeUpdated(_modelId, _fee);
    }

    /// @inheritdoc IModelRegistry
    function deprecate(bytes32 _modelId) external {
        Model storage m = _ownedBy(_modelId, msg.sender);
        // INVARIANT: deprecation is one-way and happens once.
        if (m.deprecated) revert ModelAlreadyDeprecated(_modelId);
        m.deprecated = true;
        emit ModelDeprecated(_modelId);
    }

    /// @inheritdoc IModelRegistry
    function transferModel(bytes32 _modelId, address _newOwner) external {
        Model storage m = _ownedBy(_modelId, msg.sender);
        // INVARIANT: a model always has an owner to receive its fees.
        if (_newOwner == address(0)) revert ZeroNewOwner();
        m.pendingOwner = _newOwner;
        emit ModelTransferStarted(_modelId, msg.sender, _newOwner);
    }

    /// @inheritdoc IModelRegistry
    function acceptModel(bytes32 _modelId) external {
        Model storage m = _existing(_modelId);
        // INVARIANT: only the proposed owner can take a model over.
        if (m.pendingOwner != msg.sender) revert NotPendingModelOwner(_modelId, msg.sender);
        address previous = m.owner;
        m.owner = msg.sender;
        m.pendingOwner = address(0);
        emit ModelTransferred(_modelId, previous, msg.sender);
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 _modelId) external view returns (Model memory model_) {
        model_ = _existing(_modelId);
    }

    /// @inheritdoc IModelRegistry
    function pricing(bytes32 _modelId) external view returns (address owner_, uint96 fee_, bool deprecated_) {
        Model storage m = _existing(_modelId);
        (owner_, fee_, deprecated_) = (m.owner, m.fee, m.deprecated);
    }

    /// @inheritdoc IModelRegistry
    function ownerOf(bytes32 _modelId) external view returns (address owner_) {
        owner_ = _existing(_modelId).owner;
    }

    /// @inheritdoc IModelRegistry
    function verificationClass(bytes32 _modelId) external view returns (VerificationClass vclass_) {
        vclass_ = _existing(_modelId).vclass;
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256 count_) {
        count_ = _ids.length;
    }

    /// @inheritdoc IModelRegistry
    function modelIdAt(uint256 _index) external view returns (bytes32 modelId_) {
        modelId_ = _ids[_index];
    }

    function _existing(bytes32 _modelId) private view returns (Model storage m_) {
        m_ = _models[_modelId];
        // INVARIANT: every read or write names a registered model.
        if (m_.owner == address(0)) revert ModelNotRegistered(_modelId);
    }

    function _ownedBy(bytes32 _modelId, address _caller) private view returns (Model storage m_) {
        m_ = _existing(_modelId);
        // INVARIANT: only the owner changes a model.
        if (m_.owner != _caller) revert NotModelOwner(_modelId, _caller, m_.owner);
    }

    function _checkURIs(bytes32 _modelId, string[] calldata _uris) private pure {
        // INVARIANT: a worker must be able to find the bytes.
        if (_uris.length == 0) revert NoModelURI(_modelId);
        if (_uris.length > MAX_URIS) revert TooManyURIs(_uris.length, MAX_URIS);
        for (uint256 i; i < _uris.length; ++i) {
            if (bytes(_uris[i]).length == 0) revert NoModelURI(_modelId);
        }
    }
}
