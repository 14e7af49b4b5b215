// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAssayConsumer} from "../interfaces/IAssayConsumer.sol";
import {IJobManager} from "../interfaces/IJobManager.sol";
import {JobRequest} from "../types/AssayTypes.sol";

/// @notice Base for test consumers: submits jobs from a contract so that callbacks reach it.
abstract contract ConsumerBase is IAssayConsumer {
    IJobManager public immutable JOBS;

    constructor(IJobManager _jobs) {
        JOBS = _jobs;
    }

    function submit(JobRequest calldata _r, IERC20 _token, uint256 _approve) external returns (uint256 jobId_) {
        _token.approve(address(JOBS), _approve);
        jobId_ = JOBS.submit(_r);
    }

    function withdrawCredits(uint256 _amount) external {
        JOBS.withdraw(_amount);
    }
}

/// @notice Records every result it is given.
contract RecordingConsumer is ConsumerBase {
    uint256 public calls;
    uint256 public lastJobId;
    bytes32 public lastOutputRoot;

    constructor(IJobManager _jobs) ConsumerBase(_jobs) {}

    function onAssayResult(uint256 _jobId, bytes32, bytes32, bytes32 _outputRoot) external {
        require(msg.sender == address(JOBS), "only jobs");
        calls += 1;
        lastJobId = _jobId;
        lastOutputRoot = _outputRoot;
    }
}

/// @notice Always reverts in the callback.
contract RevertingConsumer is ConsumerBase {
    constructor(IJobManager _jobs) ConsumerBase(_jobs) {}

    function onAssayResult(uint256, bytes32, bytes32, bytes32) external pure {
        revert("consumer says no");
    }
}

/// @notice Burns all the gas it is given.
contract GasBurningConsumer is ConsumerBase {
    uint256 public sink;

    constructor(IJobManager _jobs) ConsumerBase(_jobs) {}

    function onAssayResult(uint256, bytes32, bytes32, bytes32) external {
        while (true) {
            sink += 1;
        }
    }
}

/// @notice Reverts with a huge revert payload (a "return bomb").
contract ReturnBombConsumer is ConsumerBase {
    constructor(IJobManager _jobs) ConsumerBase(_jobs) {}

    function onAssayResult(uint256, bytes32, bytes32, bytes32) external pure {
        assembly {
            revert(0, 1000000)
        }
    }
}

/// @notice Tries to re-enter the JobManager from its callback; records whether it succeeded.
contract ReentrantConsumer is ConsumerBase {
    bool public reentered;
    uint256 public target;

    constructor(IJobManager _jobs) ConsumerBase(_jobs) {}

    function setTarget(uint256 _jobId) external {
        target = _jobId;
    }

    function onAssayResult(uint256, bytes32, bytes32, bytes32) external {
        // Try to finalize another job and to pull credits in the middle of a finalize.
        try JOBS.finalize(target) {
            reentered = true;
        } catch {}
        try JOBS.withdraw(1) {
            reentered = true;
        } catch {}
    }
}
